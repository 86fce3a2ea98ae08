-- Pending expiry (see ../0007_pending_expiry.sql).
CREATE INDEX transactions_pending_age ON transactions (time, seq)
    WHERE status = 'pending' AND revertable = 1;
