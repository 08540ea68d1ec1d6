//! Holding a success back: when the provider reports a task succeeded and its tenant's
//! outputs are copied, the stored task stays `running` (no `task.succeeded`, no finished
//! answer to waiters) until the copy is done; what the provider said waits in the record.

use chrono::{DateTime, Utc};
use taskgate_core::TaskStatus;
use taskgate_store::{OutputsCopy, TaskRecord};

use crate::runtime::Runtime;

/// Turns a change that finishes `next` with outputs into a copy to make first: `next`
/// keeps its previous visible state as `running`, and is due for the watcher now.
pub fn hold_success(
    runtime: &Runtime,
    before: TaskStatus,
    next: &mut TaskRecord,
    now: DateTime<Utc>,
) {
    let succeeds = !before.is_terminal() && next.task.status == TaskStatus::Succeeded;
    // Outputs with `stored` set went through a copy already (this is its end).
    let copied = next.task.outputs.iter().all(|o| o.stored.is_some());
    if !succeeds || copied || next.outputs_copy.is_some() || !super::wanted(runtime, &next.tenant) {
        return;
    }
    let finished = next.task.clone();
    let task = &mut next.task;
    task.status = TaskStatus::Running;
    task.started_at = task.started_at.or(finished.finished_at).or(Some(now));
    task.finished_at = None;
    task.outputs = Vec::new();
    task.provider_status = finished.provider_status.clone();
    next.outputs_copy = Some(OutputsCopy {
        finished,
        attempts: 0,
    });
    next.next_check_at = Some(now);
    next.lease_owner = None;
    next.lease_until = None;
}
