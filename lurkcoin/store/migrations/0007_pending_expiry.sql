-- Pending expiry ([ledger] pending_expiry): the revertable transactions still
-- waiting in a pending queue, oldest first, found by an index range whatever
-- the number of servers or of pending transactions.
CREATE INDEX transactions_pending_age ON transactions (time, seq)
    WHERE status = 'pending' AND revertable = 1;
