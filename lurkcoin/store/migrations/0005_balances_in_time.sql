-- Balances in time: GET /v3/balance?at= and /v3/history?since=&until=.
-- Each entry and each history row carries the Unix time of the change it
-- records, so "as of T" is an index range per server, never a table scan.

ALTER TABLE entries ADD COLUMN time INTEGER NOT NULL DEFAULT 0;
UPDATE entries SET time = (SELECT t.time FROM transactions t WHERE t.seq = entries.txn_seq)
    WHERE txn_seq IS NOT NULL;
UPDATE entries SET time = (SELECT a.created_at FROM adjustments a WHERE a.id = entries.adjustment_id)
    WHERE adjustment_id IS NOT NULL;
-- delta is in the index so the sum over a range never visits the table.
CREATE INDEX entries_server_time ON entries (server_id, time, delta);

ALTER TABLE history ADD COLUMN time INTEGER NOT NULL DEFAULT 0;
UPDATE history SET time = (SELECT t.time FROM transactions t WHERE t.seq = history.seq);
CREATE INDEX history_server_time ON history (server_id, time, pos);
