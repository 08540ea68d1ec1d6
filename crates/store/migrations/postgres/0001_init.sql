-- taskgate store, PostgreSQL engine: the first schema (the SQLite engine's, column for column).
--
-- Times are BIGINT Unix nanoseconds (UTC), as in the SQLite engine: they sort numerically
-- and round-trip exactly, so every engine orders and returns times alike. The task itself
-- lives in `body` (the task JSON, as TEXT: it round-trips byte for byte, which JSONB would
-- not); the other columns are what is queried, kept in sync with `body` on every write.
--
-- Identifiers compare byte for byte (COLLATE "C"), whatever the database's locale, so lists
-- and claims order ties by id exactly as the other engines do.
--
-- Every migration in this folder is additive (new tables, nullable or defaulted columns,
-- indexes): during a rolling upgrade, replicas of the previous build keep running on the
-- migrated schema (connect.rs lets them start on it).
--
-- "Unfinished" is spelled `status NOT IN ('succeeded', 'failed', 'canceled')` everywhere,
-- literally, so the planner can prove a query's WHERE implies a partial index's.

CREATE TABLE tasks (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant        TEXT COLLATE "C" NOT NULL,
    status        TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    next_check_at BIGINT,
    lease_owner   TEXT,
    lease_until   BIGINT,
    refreshed_at  BIGINT,
    callback_url  TEXT,
    body          TEXT   NOT NULL
);

-- A tenant's list, newest first.
CREATE INDEX tasks_tenant_created ON tasks (tenant, created_at DESC, id DESC);

-- The same, filtered by status.
CREATE INDEX tasks_tenant_status_created ON tasks (tenant, status, created_at DESC, id DESC);

-- Unfinished tasks per tenant (the concurrency cap).
CREATE INDEX tasks_tenant_unfinished ON tasks (tenant, status)
    WHERE status NOT IN ('succeeded', 'failed', 'canceled');

-- Due work for the watchers of every replica.
CREATE INDEX tasks_due ON tasks (next_check_at, id)
    WHERE status NOT IN ('succeeded', 'failed', 'canceled');

-- One binding per key: two replicas reserving the same key at once get one row.
CREATE TABLE idempotency_keys (
    tenant       TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    request_hash TEXT   NOT NULL,
    task_id      TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- Purging expired keys.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
