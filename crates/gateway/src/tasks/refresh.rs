//! Refreshing an unfinished task from its provider: one poll, applied as a
//! compare-and-set, shared by concurrent readers (and later by the watcher).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use taskgate_core::{FailureClass, TaskError};
use taskgate_store::{TaskRecord, TaskStore};

use crate::runtime::Runtime;

/// Why a refresh could not even record its result.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreFailure(pub String);

/// True when the record was refreshed within `refresh_after` (or is finished).
pub fn is_fresh(record: &TaskRecord, runtime: &Runtime, now: DateTime<Utc>) -> bool {
    if record.task.is_terminal() {
        return true;
    }
    let window = chrono::Duration::from_std(runtime.config.tasks.refresh_after)
        .unwrap_or(chrono::Duration::MAX);
    record.refreshed_at.is_some_and(|at| now - at < window)
}

/// Polls the provider once and stores what it said. Upstream failures leave the task as it
/// was (the read serves the stored state); only a store failure is an error.
pub async fn refresh(
    store: Arc<dyn TaskStore>,
    runtime: Arc<Runtime>,
    record: TaskRecord,
) -> Result<TaskRecord, StoreFailure> {
    let mut next = record.clone();
    poll_into(&runtime, &mut next).await;
    let now = Utc::now();
    let timings = &runtime.config.tasks;
    let age = now - next.task.created_at;
    if !next.task.is_terminal() && age > to_chrono(timings.give_up_after) {
        next.task.fail(
            TaskError::new(
                TaskError::TIMEOUT,
                "the task did not finish in the allowed time",
            ),
            now,
        );
    }
    next.refreshed_at = Some(now);
    next.next_check_at = (!next.task.is_terminal()).then(|| now + to_chrono(timings.watch_every));
    match store.update(&next).await {
        Ok(Some(version)) => {
            next.version = version;
            Ok(next)
        }
        // Someone else stored a newer state first: theirs is at least as recent as ours.
        Ok(None) => match store.get(&record.tenant, &record.task.id).await {
            Ok(Some(latest)) => Ok(latest),
            Ok(None) => Err(StoreFailure("task vanished during refresh".into())),
            Err(e) => Err(StoreFailure(e.to_string())),
        },
        Err(e) => Err(StoreFailure(e.to_string())),
    }
}

fn to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

async fn poll_into(runtime: &Runtime, record: &mut TaskRecord) {
    let task = &mut record.task;
    let Some(provider) = runtime.provider(&task.provider) else {
        tracing::warn!(task = %task.id, provider = %task.provider, "provider no longer configured; serving stored state");
        return;
    };
    let Some(provider_task_id) = task.provider_task_id.clone() else {
        return;
    };
    let tenant_key = runtime
        .tenant(&record.tenant)
        .and_then(|t| t.upstream_keys.get(&task.provider));
    let now = Utc::now();
    match provider
        .poll(&provider_task_id, task.task_type, tenant_key)
        .await
    {
        Ok(snapshot) => {
            if snapshot.status.is_none() {
                tracing::warn!(task = %task.id, provider = %task.provider, word = %snapshot.provider_status, "unknown provider status word; keeping the last status");
            }
            task.apply(&snapshot, Utc::now());
        }
        Err(e) if e.class == FailureClass::NotVisibleYet => {
            let grace = to_chrono(runtime.config.tasks.not_found_grace);
            if now - task.created_at > grace {
                task.fail(
                    TaskError::new(TaskError::NOT_FOUND, "the provider does not know this task"),
                    now,
                );
            }
        }
        Err(e) => {
            tracing::warn!(task = %task.id, provider = %task.provider, class = e.class.as_str(), error = %e.message, "refresh failed; serving stored state");
        }
    }
}
