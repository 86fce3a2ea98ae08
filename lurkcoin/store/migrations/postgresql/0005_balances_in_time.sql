-- Balances in time (see ../0005_balances_in_time.sql).
ALTER TABLE entries ADD COLUMN time BIGINT NOT NULL DEFAULT 0;
UPDATE entries SET time = (SELECT t.time FROM transactions t WHERE t.seq = entries.txn_seq)
    WHERE txn_seq IS NOT NULL;
UPDATE entries SET time = (SELECT a.created_at FROM adjustments a WHERE a.id = entries.adjustment_id)
    WHERE adjustment_id IS NOT NULL;
CREATE INDEX entries_server_time ON entries (server_id, time, delta);

ALTER TABLE history ADD COLUMN time BIGINT NOT NULL DEFAULT 0;
UPDATE history SET time = (SELECT t.time FROM transactions t WHERE t.seq = history.seq);
CREATE INDEX history_server_time ON history (server_id, time, pos);
