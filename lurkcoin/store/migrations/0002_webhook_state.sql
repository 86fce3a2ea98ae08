-- Webhook delivery state, one row per server the dispatcher has worked for:
-- what the CLI (`lurkcoin webhooks`) and the admin pages show, and the
-- webhook-id a signed notification keeps across its retries.
-- The next attempt is webhook_outbox.due_at; times are Unix seconds.

CREATE TABLE webhook_state (
    server_id            INTEGER PRIMARY KEY REFERENCES servers (id),
    last_attempt_at      REAL,
    -- HTTP status of the last attempt; NULL when no answer came back.
    last_status          INTEGER,
    -- Why the last attempt failed; NULL after a success.
    last_error           TEXT,
    last_success_at      REAL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    -- When a notification was last dropped after [webhooks] give_up_after;
    -- cleared by the next success.
    gave_up_at           REAL,
    -- The webhook-id of the notification being delivered and the outbox
    -- generation it was made for: a retry of the same generation keeps it,
    -- anything newer gets a fresh one.
    message_id           TEXT,
    message_generation   INTEGER
);

-- The dispatcher asks for the rows that are due, earliest first.
CREATE INDEX webhook_outbox_due ON webhook_outbox (due_at);
