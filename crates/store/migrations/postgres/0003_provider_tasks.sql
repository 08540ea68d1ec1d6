-- Who owns a provider's task, for the pass-through on a provider key that several tenants
-- share (the provider cannot tell them apart; the gateway must). Additive, like every
-- migration here.
--
-- Tasks of the stable API: found through their stored body, by this index.
CREATE INDEX tasks_provider_task ON tasks (
    ((body::jsonb) ->> 'provider_task_id'),
    ((body::jsonb) ->> 'provider')
);

-- Tasks created through the pass-through: the id read from the provider's create answer.
-- The first tenant to record an id keeps it.
CREATE TABLE passthrough_tasks (
    provider         TEXT COLLATE "C" NOT NULL,
    provider_task_id TEXT COLLATE "C" NOT NULL,
    tenant           TEXT COLLATE "C" NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (provider, provider_task_id)
);
