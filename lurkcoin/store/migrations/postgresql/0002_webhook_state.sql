-- Webhook delivery state (see ../0002_webhook_state.sql).
CREATE TABLE webhook_state (
    server_id            BIGINT PRIMARY KEY REFERENCES servers (id),
    last_attempt_at      DOUBLE PRECISION,
    last_status          BIGINT,
    last_error           TEXT COLLATE "C",
    last_success_at      DOUBLE PRECISION,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    gave_up_at           DOUBLE PRECISION,
    message_id           TEXT COLLATE "C",
    message_generation   BIGINT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (due_at);
