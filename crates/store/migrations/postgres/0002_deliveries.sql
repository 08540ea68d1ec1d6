-- The webhook outbox: one row per delivery of a finished task to its callback_url.
-- `body` is frozen at enqueue so every attempt sends (and signs) the same bytes.
CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    tenant          TEXT   NOT NULL,
    task_id         TEXT   NOT NULL,
    url             TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    status          TEXT   NOT NULL DEFAULT 'pending',
    next_attempt_at BIGINT,
    last_error      TEXT,
    lease_owner     TEXT,
    lease_until     BIGINT
);

CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
