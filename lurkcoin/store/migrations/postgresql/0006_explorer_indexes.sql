-- Indexes for the public explorer (see ../0006_explorer_indexes.sql).
-- PostgreSQL does not append the primary key to an index as SQLite does with
-- the rowid, so seq is named where the keyset cursor orders by (x, seq).
CREATE INDEX transactions_time ON transactions (time, seq);
CREATE INDEX transactions_amount ON transactions (amount, seq);
CREATE INDEX transactions_source_server_time ON transactions (source_server_id, time, seq);
CREATE INDEX transactions_target_server_time ON transactions (target_server_id, time, seq);
CREATE INDEX transactions_source_time ON transactions (source, time, seq);
CREATE INDEX transactions_target_time ON transactions (target, time, seq);
