-- Who owns a provider's task, for the pass-through on a provider key that several tenants
-- share (the provider cannot tell them apart; the gateway must).
--
-- Tasks of the stable API: their provider and provider task id as columns, kept in sync
-- with `body` on every write like the other queried columns.
ALTER TABLE tasks ADD COLUMN provider TEXT;
ALTER TABLE tasks ADD COLUMN provider_task_id TEXT;
UPDATE tasks SET provider = json_extract(body, '$.provider'),
                 provider_task_id = json_extract(body, '$.provider_task_id');
CREATE INDEX tasks_provider_task ON tasks (provider_task_id, provider);

-- Tasks created through the pass-through: the id read from the provider's create answer.
-- The first tenant to record an id keeps it.
CREATE TABLE passthrough_tasks (
    provider         TEXT    NOT NULL,
    provider_task_id TEXT    NOT NULL,
    tenant           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_task_id)
) STRICT, WITHOUT ROWID;
