//! Where a queued task stands, for the client: its position among the tasks waiting for
//! the same providers and an estimate of when it starts.

use chrono::Utc;
use taskgate_core::{QueuePlace, Task};
use taskgate_store::{queue, StoreError, TaskRecord};

use super::policy::dispatch_policy;
use crate::runtime::Runtime;
use crate::state::AppState;
use crate::tasks::refresh::to_chrono;

/// The task as a client sees it: with its `queue` place while the gateway holds it.
pub async fn task_of(
    state: &AppState,
    runtime: &Runtime,
    record: &TaskRecord,
) -> Result<Task, StoreError> {
    let mut task = record.task.clone();
    task.queue = match &record.queue {
        Some(entry) if !task.is_terminal() => Some(place(state, runtime, record, entry).await?),
        _ => None,
    };
    Ok(task)
}

/// Like [`task_of`] for a task read without its record (events, long-polls): a task with
/// no provider yet is looked up again.
pub async fn fill(
    state: &AppState,
    runtime: &Runtime,
    tenant: &str,
    task: Task,
) -> Result<Task, StoreError> {
    if task.provider.is_some() || task.queue.is_some() || task.is_terminal() {
        return Ok(task);
    }
    match state.store.get(tenant, &task.id).await? {
        Some(record) => task_of(state, runtime, &record).await,
        None => Ok(task),
    }
}

async fn place(
    state: &AppState,
    runtime: &Runtime,
    record: &TaskRecord,
    entry: &taskgate_store::QueueEntry,
) -> Result<QueuePlace, StoreError> {
    let policy = dispatch_policy(state, runtime);
    let ahead = state.store.queue_ahead(record).await?;
    let position = queue::position(&ahead, &record.tenant, &policy);
    Ok(QueuePlace {
        position,
        estimated_start_at: estimate(state, runtime, &entry.candidates, position),
        priority: entry.priority,
    })
}

/// `position` slot-times from now, where a slot-time is the recent average time a task
/// holds a slot, spread over the candidates' slots. `None` without a recent duration.
fn estimate(
    state: &AppState,
    runtime: &Runtime,
    candidates: &[String],
    position: u64,
) -> Option<chrono::DateTime<Utc>> {
    let mut slots = 0u64;
    let mut held = None;
    for name in candidates {
        let Some(config) = runtime.config.providers.get(name) else {
            continue;
        };
        slots += u64::from(config.max_concurrent.unwrap_or(0));
        held = held.or_else(|| state.durations.average(name));
    }
    let held = held?;
    if slots == 0 {
        return None;
    }
    let wait = held.mul_f64(position as f64 / slots as f64);
    Some(Utc::now() + to_chrono(wait))
}
