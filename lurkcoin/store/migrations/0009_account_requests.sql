-- Self-service onboarding ([onboarding] enabled): requests for a server
-- account, waiting for an operator to approve or refuse them.
--
-- status: 'pending' (waiting), 'approved' (the server exists, its token not
-- fetched yet), 'claimed' (the requester fetched the token, once),
-- 'refused' (reason says why). Only SHA-256 hashes (hex) of the requester's
-- secret are kept; the server's token is made at the claim and never stored.
CREATE TABLE account_requests (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL,
    uid              TEXT    NOT NULL,
    contact          TEXT    NOT NULL,
    webhook_url      TEXT,
    message          TEXT    NOT NULL,
    address          TEXT    NOT NULL,
    secret_hash      TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'claimed', 'refused')),
    created_at       INTEGER NOT NULL,
    decided_at       INTEGER,
    decided_by       TEXT,
    reason           TEXT    NOT NULL DEFAULT '',
    server_id        INTEGER REFERENCES servers (id),
    claim_expires_at INTEGER,
    claimed_at       INTEGER
);

-- One waiting request per server uid: a second is refused, and two racing
-- requests cannot both get in.
CREATE UNIQUE INDEX account_requests_pending_uid ON account_requests (uid)
    WHERE status = 'pending';

-- The console's queue and the cap on waiting requests: an index range.
CREATE INDEX account_requests_status ON account_requests (status, id);
