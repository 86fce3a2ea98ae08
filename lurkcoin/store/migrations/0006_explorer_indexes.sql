-- Indexes for the public explorer (/api/transactions.json): every filter it
-- offers drives one index range scan, ordered the way the page is sorted.
-- SQLite appends the rowid (seq) to each index entry, so (x, time) is really
-- (x, time, seq): the keyset cursor's (time, seq) order with ties broken.
CREATE INDEX transactions_time ON transactions (time);
CREATE INDEX transactions_amount ON transactions (amount);
CREATE INDEX transactions_source_server_time ON transactions (source_server_id, time);
CREATE INDEX transactions_target_server_time ON transactions (target_server_id, time);
CREATE INDEX transactions_source_time ON transactions (source, time);
CREATE INDEX transactions_target_time ON transactions (target, time);
