-- Payments to self and the day's change in the pending count in the daily
-- rollup (see ../0010_rollup_pending.sql).
ALTER TABLE daily_rollup ADD COLUMN self_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN pending_change BIGINT NOT NULL DEFAULT 0;

UPDATE daily_rollup SET self_count = (
    SELECT COUNT(*) FROM transactions t
    WHERE t.source_server_id = daily_rollup.server_id
      AND t.target_server_id = daily_rollup.server_id
      AND t.time >= daily_rollup.day * 86400 AND t.time < daily_rollup.day * 86400 + 86400)
WHERE server_id <> 0;

INSERT INTO daily_rollup (server_id, day, sent_count, sent_volume, received_count,
    received_volume, self_count, pending_change)
SELECT 0, day, 0, 0, 0, 0, 0, SUM(change) FROM (
    SELECT time / 86400 AS day, 1 AS change FROM transactions WHERE status <> 'settled'
    UNION ALL
    SELECT processed_at / 86400, -1 FROM transactions
    WHERE status IN ('acknowledged', 'rejected') AND processed_at IS NOT NULL
) AS changes GROUP BY day
ON CONFLICT (server_id, day) DO UPDATE SET pending_change = excluded.pending_change;
