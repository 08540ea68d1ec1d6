-- taskgate store, SQLite engine: the first schema.
--
-- Times are INTEGER Unix nanoseconds (UTC), so they sort numerically and round-trip
-- exactly. The task itself lives in `body` (the task JSON); the other columns are what is
-- queried, kept in sync with `body` on every write.
--
-- "Unfinished" is spelled `status NOT IN ('succeeded', 'failed', 'canceled')` everywhere,
-- literally: SQLite only uses a partial index when the query repeats its WHERE term.

CREATE TABLE tasks (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    next_check_at INTEGER,
    lease_owner   TEXT,
    lease_until   INTEGER,
    refreshed_at  INTEGER,
    callback_url  TEXT,
    body          TEXT    NOT NULL
) STRICT;

-- A tenant's list, newest first.
CREATE INDEX tasks_tenant_created ON tasks (tenant, created_at DESC, id DESC);

-- The same, filtered by status.
CREATE INDEX tasks_tenant_status_created ON tasks (tenant, status, created_at DESC, id DESC);

-- Unfinished tasks per tenant (the concurrency cap).
CREATE INDEX tasks_tenant_unfinished ON tasks (tenant, status)
    WHERE status NOT IN ('succeeded', 'failed', 'canceled');

-- Due work for the watcher.
CREATE INDEX tasks_due ON tasks (next_check_at, id)
    WHERE status NOT IN ('succeeded', 'failed', 'canceled');

CREATE TABLE idempotency_keys (
    tenant       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    task_id      TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
) STRICT, WITHOUT ROWID;

-- Purging expired keys.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
