-- The gateway's queue: tasks wait in the store for a free slot at one of their candidate
-- providers, and claims hand the slots out (src/sql/queue.rs). Additive, like every
-- migration here.
--
-- `queue_state`: NULL once a provider has the task (or it never queued), 'waiting' in
-- line, 'dispatching' while its create is in flight to `provider` (set, unlike the task
-- body's provider, so the slot counts at once).
-- `priority`: −10 to 10, higher first within the tenant. `queue_head`: 1 for a task put
-- back after a provider refused it for capacity (first in its tenant's line).
-- `candidates`: the providers it may go to, as a JSON array text; tasks with the same
-- text wait for the same providers. `input`: the create's input, kept until dispatch.
-- `dispatched_at`: when a provider accepted it (nanoseconds, like the other times).
ALTER TABLE tasks ADD COLUMN queue_state TEXT;
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN queue_head INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN candidates TEXT;
ALTER TABLE tasks ADD COLUMN input TEXT;
ALTER TABLE tasks ADD COLUMN dispatched_at INTEGER;

-- A claim's scan of the waiting tasks: each tenant's and candidate list's line, in its
-- order (the claim's window partitions by tenant and candidates).
CREATE INDEX tasks_waiting
    ON tasks (tenant, candidates, queue_head DESC, priority DESC, created_at, id)
    WHERE queue_state = 'waiting';

-- What is ahead of a queued task (its position), among those for the same providers.
CREATE INDEX tasks_queued ON tasks (candidates, created_at, id)
    WHERE queue_state IN ('waiting', 'dispatching');

-- The slots in use at a provider: its unfinished tasks, dispatching ones included.
CREATE INDEX tasks_provider_unfinished ON tasks (provider)
    WHERE status NOT IN ('succeeded', 'failed', 'canceled');

-- Weighted fair order between tenants: each tenant's virtual time ("pass"). The row of
-- the tenant '' (no tenant name is empty: the configuration refuses one) holds the
-- global clock, the virtual time of the last dispatch.
CREATE TABLE queue_tenants (
    tenant TEXT NOT NULL PRIMARY KEY,
    pass   REAL NOT NULL
) STRICT, WITHOUT ROWID;
