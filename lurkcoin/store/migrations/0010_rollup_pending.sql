-- Two more columns of the daily rollup (migration 0004), kept by the same
-- statements that keep the rest of it:
-- - self_count: the server's payments to itself that day. sent_count and
--   received_count both count a self-payment, its history shows it once, so a
--   server's transaction count is sent + received - self (the explorer's
--   transaction_count).
-- - pending_change: on the all-servers row (server_id 0) only, how the number
--   of pending transactions changed that day: +1 for each transaction made
--   pending, -1 for each acknowledged or rejected (dated by processed_at), so
--   the pending count at the end of a day is the sum up to that day.
ALTER TABLE daily_rollup ADD COLUMN self_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN pending_change INTEGER NOT NULL DEFAULT 0;

UPDATE daily_rollup SET self_count = (
    SELECT COUNT(*) FROM transactions t
    WHERE t.source_server_id = daily_rollup.server_id
      AND t.target_server_id = daily_rollup.server_id
      AND t.time >= daily_rollup.day * 86400 AND t.time < daily_rollup.day * 86400 + 86400)
WHERE server_id <> 0;

-- Every transaction not made 'settled' was made pending (a live payment or
-- refund to a player, or an imported pending one). "WHERE true" tells
-- SQLite's parser that ON CONFLICT belongs to the INSERT.
INSERT INTO daily_rollup (server_id, day, sent_count, sent_volume, received_count,
    received_volume, self_count, pending_change)
SELECT 0, day, 0, 0, 0, 0, 0, SUM(change) FROM (
    SELECT time / 86400 AS day, 1 AS change FROM transactions WHERE status <> 'settled'
    UNION ALL
    SELECT processed_at / 86400, -1 FROM transactions
    WHERE status IN ('acknowledged', 'rejected') AND processed_at IS NOT NULL
) AS changes WHERE true GROUP BY day
ON CONFLICT (server_id, day) DO UPDATE SET pending_change = excluded.pending_change;
