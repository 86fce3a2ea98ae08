-- The operator's console: admin sessions, the tamper-evident audit log and
-- the daily rollup that dashboards and the explorer read instead of scanning
-- the transactions table.

-- A signed-in browser. Only the SHA-256 of the session id (a 256-bit random
-- cookie value) is kept, so a copy of the database logs nobody in.
CREATE TABLE admin_sessions (
    id_hash      BLOB    PRIMARY KEY,
    user         TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    created_at   REAL    NOT NULL,
    last_seen_at REAL    NOT NULL
) WITHOUT ROWID;

-- Every change an operator makes (console or CLI), written in the same
-- transaction as the change. hash = SHA-256 of prev_hash and the row's
-- fields (lurkcoin.ledger.audit): editing or removing a row breaks the chain
-- at that row, and `lurkcoin audit verify` names it.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    address   TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    before    TEXT,
    after     TEXT,
    reason    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);

-- Transactions per UTC day (day = time / 86400), per server and in total
-- (server_id 0), maintained by the statement that inserts a transaction.
-- Volumes are lurkcoin cents (the transaction's amount). `lurkcoin check`
-- recomputes it from the transactions and compares.
CREATE TABLE daily_rollup (
    server_id       INTEGER NOT NULL,
    day             INTEGER NOT NULL,
    sent_count      INTEGER NOT NULL,
    sent_volume     INTEGER NOT NULL,
    received_count  INTEGER NOT NULL,
    received_volume INTEGER NOT NULL,
    PRIMARY KEY (server_id, day)
) WITHOUT ROWID;

INSERT INTO daily_rollup (server_id, day, sent_count, sent_volume, received_count, received_volume)
SELECT 0, time / 86400, COUNT(*), SUM(amount), COUNT(*), SUM(amount)
FROM transactions GROUP BY time / 86400;

INSERT INTO daily_rollup (server_id, day, sent_count, sent_volume, received_count, received_volume)
SELECT server_id, day, SUM(sc), SUM(sv), SUM(rc), SUM(rv) FROM (
    SELECT source_server_id AS server_id, time / 86400 AS day,
           1 AS sc, amount AS sv, 0 AS rc, 0 AS rv
    FROM transactions WHERE source_server_id IS NOT NULL
    UNION ALL
    SELECT target_server_id, time / 86400, 0, 0, 1, amount
    FROM transactions WHERE target_server_id IS NOT NULL)
GROUP BY server_id, day;
