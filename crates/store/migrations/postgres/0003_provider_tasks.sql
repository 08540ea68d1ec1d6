-- Who owns a provider's task, for the pass-through on a provider key that several tenants
-- share (the provider cannot tell them apart; the gateway must). Additive, like every
-- migration here.
--
-- Tasks of the stable API: their provider and provider task id as columns, kept in sync
-- with `body` on every write like the other queried columns. Columns, not an index on
-- `body::jsonb`: jsonb refuses a body with `\u0000` in it (metadata may hold one), and an
-- index expression that fails would fail the task's write.
ALTER TABLE tasks ADD COLUMN provider TEXT COLLATE "C";
ALTER TABLE tasks ADD COLUMN provider_task_id TEXT COLLATE "C";
-- Existing rows whose body jsonb cannot read keep NULL: the pass-through then treats their
-- provider task as nobody's (it fails closed).
UPDATE tasks SET provider = (body::jsonb) ->> 'provider',
                 provider_task_id = (body::jsonb) ->> 'provider_task_id'
 WHERE strpos(body, '\u0000') = 0;
CREATE INDEX tasks_provider_task ON tasks (provider_task_id, provider);

-- Tasks created through the pass-through: the id read from the provider's create answer.
-- The first tenant to record an id keeps it.
CREATE TABLE passthrough_tasks (
    provider         TEXT COLLATE "C" NOT NULL,
    provider_task_id TEXT COLLATE "C" NOT NULL,
    tenant           TEXT COLLATE "C" NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (provider, provider_task_id)
);
