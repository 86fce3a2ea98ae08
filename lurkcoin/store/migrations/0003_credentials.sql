-- Token rotation without downtime, and scoped read-only API keys.

-- A regenerated token waits here until its first use; until then the old
-- token_hash keeps working, afterwards only this one does.
ALTER TABLE servers ADD COLUMN next_token_hash BLOB;

-- Read-only keys a server hands to dashboards. Only the SHA-256 of a key is
-- kept; scopes is a comma-separated subset of balance,history,pending.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    server_id    INTEGER NOT NULL REFERENCES servers (id),
    key_hash     BLOB    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    label        TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_server ON api_keys (server_id);
