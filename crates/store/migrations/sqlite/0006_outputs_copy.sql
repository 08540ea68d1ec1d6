-- Durable outputs: a task whose provider reported success while its outputs are copied into
-- the gateway's storage. Additive, like every migration here.
--
-- `outputs_copy`: NULL, or JSON `{"finished": <the task as the provider finished it>,
-- "attempts": <copy rounds that failed and will be retried>}`. The task stays `running`
-- meanwhile; the watcher claims it (`next_check_at`, the lease) and runs the copy, so a copy
-- pending at a crash resumes after the restart, on one replica.
ALTER TABLE tasks ADD COLUMN outputs_copy TEXT;

-- Secrets the gateway makes for itself and every replica must share (the key that signs
-- `/v1/files` URLs when the config gives none): the first replica's candidate wins.
CREATE TABLE gateway_secrets (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
