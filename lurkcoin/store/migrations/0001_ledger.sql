-- The ledger: servers, immutable transactions, double-entry postings,
-- per-server history, idempotency keys and the webhook outbox.
-- All money columns are integer cents.

CREATE TABLE servers (
    id             INTEGER PRIMARY KEY,
    uid            TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    -- 'system' accounts (the issuance account) are the other side of every
    -- admin balance change; they may go negative, game servers never.
    kind           TEXT    NOT NULL DEFAULT 'server' CHECK (kind IN ('server', 'system')),
    balance        INTEGER NOT NULL DEFAULT 0,
    target_balance INTEGER NOT NULL DEFAULT 0 CHECK (target_balance >= 0),
    token_hash     BLOB,
    webhook_url    TEXT,
    webhook_secret TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    deleted_at     INTEGER,
    CHECK (kind = 'system' OR balance >= 0)
);
-- Deleted servers keep their row (history points at it) but free the name.
CREATE UNIQUE INDEX servers_live_uid ON servers (uid) WHERE deleted_at IS NULL;

CREATE TABLE transactions (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    source           TEXT    NOT NULL,
    source_server    TEXT    NOT NULL,
    source_server_id INTEGER REFERENCES servers (id),
    target           TEXT    NOT NULL,
    target_server    TEXT    NOT NULL,
    target_server_id INTEGER REFERENCES servers (id),
    amount           INTEGER NOT NULL,
    sent_amount      INTEGER NOT NULL,
    received_amount  INTEGER NOT NULL,
    time             INTEGER NOT NULL,
    revertable       INTEGER NOT NULL,
    status           TEXT    NOT NULL
        CHECK (status IN ('pending', 'acknowledged', 'rejected', 'settled')),
    processed_at     INTEGER,
    refund_of        TEXT,
    refund_id        TEXT,
    refund_failed    TEXT,
    imported         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX transactions_pending ON transactions (target_server_id, seq)
    WHERE status = 'pending';
CREATE INDEX transactions_refund_failed ON transactions (seq)
    WHERE refund_failed IS NOT NULL;

-- Which transactions each server sees in its history (a self-payment once),
-- ordered by pos: the transaction's seq for live payments; imported histories
-- keep the order of the backup, which need not be the order of their seqs.
CREATE TABLE history (
    server_id INTEGER NOT NULL,
    pos       INTEGER NOT NULL,
    seq       INTEGER NOT NULL REFERENCES transactions (seq),
    PRIMARY KEY (server_id, pos)
) WITHOUT ROWID;

-- Operator changes to a balance; each posts a pair of entries against the
-- issuance account.
CREATE TABLE adjustments (
    id         INTEGER PRIMARY KEY,
    server_id  INTEGER NOT NULL REFERENCES servers (id),
    amount     INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- Double entry: every balance change is a pair of rows summing to zero.
CREATE TABLE entries (
    id            INTEGER PRIMARY KEY,
    server_id     INTEGER NOT NULL REFERENCES servers (id),
    delta         INTEGER NOT NULL,
    txn_seq       INTEGER REFERENCES transactions (seq),
    adjustment_id INTEGER REFERENCES adjustments (id),
    CHECK ((txn_seq IS NULL) <> (adjustment_id IS NULL))
);

CREATE TABLE idempotency_keys (
    server_id   INTEGER NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    txn_seq     INTEGER NOT NULL REFERENCES transactions (seq),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (server_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- One row per server with something to announce: the webhook body carries
-- no transaction data, so one delivery covers everything pending.
-- generation grows on every new notification, so a delivery that started
-- before a newer payment does not clear the row.
CREATE TABLE webhook_outbox (
    server_id  INTEGER PRIMARY KEY REFERENCES servers (id),
    generation INTEGER NOT NULL DEFAULT 1,
    queued_at  REAL    NOT NULL,
    due_at     REAL    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
);

-- The issuance account: the other side of every operator adjustment and of
-- opening balances. Its balance is minus the money in circulation.
INSERT INTO servers (uid, name, kind, created_at, updated_at)
VALUES ('@issuance', 'issuance', 'system', CAST(strftime('%s', 'now') AS INTEGER),
        CAST(strftime('%s', 'now') AS INTEGER));
