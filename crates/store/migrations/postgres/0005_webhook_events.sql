-- Webhook events a client chooses (`callback_events`), sent in order per task. Additive,
-- like every migration here: rows of earlier builds read as the part-1 behaviour.
--
-- `callback_events`: the chosen events as a bit mask (succeeded 1, failed 2, canceled 4,
-- started 8, progress 16; 7, the terminal three, is the default).
-- `progress_event_at`: when the last task.progress (or task.started) was queued, the
-- throttle of `webhooks.progress_every` (nanoseconds, like the other times).
ALTER TABLE tasks ADD COLUMN callback_events BIGINT NOT NULL DEFAULT 7;
ALTER TABLE tasks ADD COLUMN progress_event_at BIGINT;

-- `event`: the event's name (the body's `type`). `seq`: its order among the task's
-- events (the task's version when it was queued, times 8, plus its place in that change);
-- a delivery is sent only when no earlier one of its task is pending, and a task.progress
-- only when no earlier, finished one holds it back (a finished task.progress keeps in
-- `next_attempt_at` the end of the throttle).
ALTER TABLE deliveries ADD COLUMN event TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;

CREATE INDEX deliveries_task ON deliveries (task_id, seq);
