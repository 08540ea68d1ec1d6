//! The record's moves at the end of a dispatch attempt: accepted by a provider, back in
//! line, on to the next candidate, or failed. Each is one compare-and-set; a lost race means
//! someone else (the watcher, after the lease ran out) settled the task.

use std::time::Duration;

use chrono::{DateTime, Utc};
use taskgate_core::TaskError;
use taskgate_store::{Pick, QueueEntry, QueueState, TaskRecord};

use super::dispatch::{lease, queue_deadline, CreateFailure, Dispatched, Mode};
use super::policy::{dispatch_policy, queueable};
use crate::runtime::Runtime;
use crate::state::AppState;
use crate::tasks::commit::commit;
use crate::tasks::refresh::{to_chrono, watch_interval};

/// Records the provider's task id: the task has left the queue. The store is asked a few
/// times; if it stays away, the lease runs out and the task fails as
/// `create_outcome_unknown` rather than being sent again.
pub(super) async fn accept(
    state: &AppState,
    runtime: &Runtime,
    mut record: TaskRecord,
    provider: String,
    provider_task_id: String,
) -> Dispatched {
    let now = Utc::now();
    let before = record.task.status;
    record.task.provider = Some(provider);
    record.task.provider_task_id = Some(provider_task_id);
    record.task.updated_at = now;
    record.queue = None;
    record.lease_owner = None;
    record.lease_until = None;
    record.dispatched_at = Some(now);
    // Nothing to learn from the provider right after its create: the watcher's first look
    // comes one period later.
    record.next_check_at = Some(now + to_chrono(watch_interval(runtime, &record)));
    for attempt in 0..3u32 {
        match commit(state, before, &mut record).await {
            Ok(Some(version)) => {
                record.version = version;
                state
                    .metrics
                    .queue_wait(waited(record.task.created_at, now));
                tracing::info!(task = %record.task.id, provider = ?record.task.provider, "task created");
                return Dispatched::Accepted(record);
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(task = %record.task.id, attempt, error = %e, "could not record the provider's task id; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
    // The provider has the task but the record moved on without it: log everything needed
    // to find it by hand.
    tracing::error!(task = %record.task.id, provider = ?record.task.provider, provider_task_id = ?record.task.provider_task_id, tenant = %record.tenant, "created upstream but could not record it");
    Dispatched::Lost
}

fn waited(created: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - created).to_std().unwrap_or_default()
}

/// Back to the head of its tenant's line, for all its original candidates.
pub(super) async fn requeue(
    state: &AppState,
    runtime: &Runtime,
    mut record: TaskRecord,
    entry: QueueEntry,
    original: Vec<String>,
) -> Dispatched {
    record.queue = Some(QueueEntry {
        state: QueueState::Waiting,
        head: true,
        candidates: original,
        ..entry
    });
    record.lease_owner = None;
    record.lease_until = None;
    record.next_check_at = Some(queue_deadline(runtime, &record));
    match state.store.update(&record).await {
        Ok(Some(version)) => {
            record.version = version;
            state.queue_ready.notify_one();
            Dispatched::Waiting(record)
        }
        Ok(None) => Dispatched::Lost,
        Err(e) => {
            // The lease runs out and the watcher settles it.
            tracing::warn!(task = %record.task.id, error = %e, "could not put a task back in the queue");
            Dispatched::Lost
        }
    }
}

pub(super) enum Next {
    Send(TaskRecord),
    Wait(TaskRecord),
    Lost,
}

/// The next candidates, in order: straight on when none of them limits its concurrency
/// (nothing to count), else through a claim like any other dispatch.
pub(super) async fn fall_back(
    state: &AppState,
    runtime: &Runtime,
    mut record: TaskRecord,
    entry: QueueEntry,
    remaining: Vec<String>,
) -> Next {
    let now = Utc::now();
    let lease = lease(runtime, &remaining);
    if !queueable(runtime, &remaining) {
        let next = remaining.first().cloned().unwrap_or_default();
        record.queue = Some(QueueEntry {
            state: QueueState::Dispatching { provider: next },
            candidates: remaining,
            ..entry
        });
        record.lease_owner = Some(state.replica_id.clone());
        record.lease_until = Some(now + to_chrono(lease));
        record.next_check_at = record.lease_until;
        return match state.store.update(&record).await {
            Ok(Some(version)) => {
                record.version = version;
                Next::Send(record)
            }
            _ => Next::Lost,
        };
    }
    record.queue = Some(QueueEntry {
        state: QueueState::Waiting,
        candidates: remaining,
        head: true,
        ..entry
    });
    record.lease_owner = None;
    record.lease_until = None;
    record.next_check_at = Some(queue_deadline(runtime, &record));
    match state.store.update(&record).await {
        Ok(Some(version)) => record.version = version,
        _ => return Next::Lost,
    }
    let policy = dispatch_policy(state, runtime);
    let pick = Pick::Task {
        tenant: &record.tenant,
        id: &record.task.id,
    };
    match state
        .store
        .claim_dispatch(&state.replica_id, now, lease, &policy, pick)
        .await
    {
        Ok(mut claimed) => match claimed.pop() {
            Some(next) => Next::Send(next),
            None => Next::Wait(record),
        },
        Err(e) => {
            tracing::warn!(task = %record.task.id, error = %e, "could not claim the next provider; the task waits");
            Next::Wait(record)
        }
    }
}

pub(super) async fn not_created(
    state: &AppState,
    record: TaskRecord,
    failure: CreateFailure,
    mode: Mode,
) -> Dispatched {
    if mode == Mode::Inline {
        return Dispatched::NotCreated { record, failure };
    }
    let error = failure.task_error();
    match fail(state, record, None, error).await {
        Some(record) => Dispatched::NotCreated { record, failure },
        None => Dispatched::Lost,
    }
}

pub(super) async fn unknown(
    state: &AppState,
    record: TaskRecord,
    failure: CreateFailure,
) -> Dispatched {
    let provider = record.slot_provider().map(str::to_string);
    let error = TaskError::new(
        TaskError::CREATE_OUTCOME_UNKNOWN,
        "the provider did not say whether it created the task; it was not sent again",
    );
    match fail(state, record, provider, error).await {
        Some(record) => Dispatched::Unknown { record, failure },
        None => Dispatched::Lost,
    }
}

/// Stores the task as failed (its webhook goes out); `None` when the record moved on.
pub(super) async fn fail(
    state: &AppState,
    mut record: TaskRecord,
    provider: Option<String>,
    error: TaskError,
) -> Option<TaskRecord> {
    let before = record.task.status;
    record.task.provider = provider;
    record.task.fail(error, Utc::now());
    record.queue = None;
    record.lease_owner = None;
    record.lease_until = None;
    record.next_check_at = None;
    match commit(state, before, &mut record).await {
        Ok(Some(version)) => {
            record.version = version;
            Some(record)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(task = %record.task.id, error = %e, "could not store a failed dispatch; the watcher settles it");
            None
        }
    }
}
