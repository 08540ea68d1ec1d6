//! `POST /v1/tasks/{id}/cancel`: a task still in the gateway's queue is canceled at once,
//! with no upstream call; one at a provider is canceled there first (where the provider
//! can), then recorded.

use std::time::Duration;

use chrono::Utc;
use taskgate_core::{FailureClass, Task};
use taskgate_store::{QueueState, TaskRecord};

use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::queue::dispatch;
use crate::state::AppState;
use crate::tasks::commit::commit;
use crate::traffic::upstream::CallError;

/// Attempts to store the canceled state before giving up on write races.
const MAX_CAS_ATTEMPTS: usize = 5;

pub async fn cancel(state: &AppState, caller: &Caller, id: &str) -> Result<Task, ApiError> {
    let mut record = get(state, caller, id).await?;
    let mut canceled_upstream = false;
    for _ in 0..MAX_CAS_ATTEMPTS {
        if record.task.is_terminal() {
            return Err(ApiError::Conflict(format!(
                "the task is already {}",
                record.task.status
            )));
        }
        if record.outputs_copy.is_some() {
            return Err(ApiError::Conflict(
                "the task succeeded at its provider; its outputs are being stored".into(),
            ));
        }
        match record.queue.as_ref().map(|q| &q.state) {
            Some(QueueState::Waiting) => {}
            Some(QueueState::Dispatching { .. }) => {
                // Its create is in flight: canceling now could leave it running upstream
                // with nobody holding its slot. Wait until the provider has it (or not).
                record = settled(state, caller, record).await?;
                continue;
            }
            None if !canceled_upstream => {
                cancel_upstream(state, caller, &record).await?;
                canceled_upstream = true;
            }
            None => {}
        }
        let before = record.task.status;
        if !record.task.cancel(Utc::now()) {
            // It finished upstream before the cancel landed.
            return Err(ApiError::Conflict(format!(
                "the task is already {}",
                record.task.status
            )));
        }
        record.queue = None;
        record.lease_owner = None;
        record.lease_until = None;
        record.next_check_at = None;
        if commit(state, before, &mut record).await?.is_some() {
            return Ok(record.task);
        }
        record = get(state, caller, id).await?;
    }
    Err(ApiError::Unavailable(
        "the task is being updated concurrently; try again".into(),
    ))
}

async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<TaskRecord, ApiError> {
    state
        .store
        .get(&caller.tenant, id)
        .await?
        .ok_or_else(ApiError::task_not_found)
}

/// The task once its dispatch has ended, woken by its events, looking in the store now
/// and then (the dispatch may run on another replica); bounded by the dispatch's lease.
async fn settled(
    state: &AppState,
    caller: &Caller,
    record: TaskRecord,
) -> Result<TaskRecord, ApiError> {
    let id = record.task.id.clone();
    let mut events = state.events.subscribe(&id);
    let bound = dispatch::longest_lease(&caller.runtime);
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let latest = get(state, caller, &id).await?;
        let dispatching = matches!(
            latest.queue.as_ref().map(|q| &q.state),
            Some(QueueState::Dispatching { .. })
        );
        if !dispatching {
            return Ok(latest);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(ApiError::Unavailable(
                "the task is being sent to its provider; try again".into(),
            ));
        }
        let _ = tokio::time::timeout(
            left.min(Duration::from_millis(250)),
            events.receiver.changed(),
        )
        .await;
    }
}

async fn cancel_upstream(
    state: &AppState,
    caller: &Caller,
    record: &TaskRecord,
) -> Result<(), ApiError> {
    let provider = record.task.provider.as_deref().unwrap_or_default();
    let upstream = state
        .upstream(&caller.runtime, provider)
        .ok_or(ApiError::CancelUnsupported)?;
    if !upstream.provider.capabilities().can_cancel {
        return Err(ApiError::CancelUnsupported);
    }
    let provider_task_id = record.task.provider_task_id.clone().unwrap_or_default();
    let key = caller
        .tenant_config()
        .and_then(|t| t.upstream_keys.get(provider));
    let id = &record.task.id;
    match upstream.cancel(&provider_task_id, key).await {
        Ok(()) => Ok(()),
        Err(CallError::RateLimited { retry_after }) => Err(ApiError::RateLimited {
            message: "the provider is at its rate limit".into(),
            retry_after,
        }),
        Err(CallError::CircuitOpen) => Err(ApiError::Unavailable(
            "the task's provider is unhealthy; try again later".into(),
        )),
        Err(CallError::Unsupported(_)) => Err(ApiError::CancelUnsupported),
        Err(CallError::Upstream(e)) => {
            tracing::warn!(task = %id, class = e.class.as_str(), error = %e.message, "cancel failed upstream");
            Err(match e.class {
                FailureClass::OutcomeUnknown if e.timed_out => ApiError::UpstreamTimeout(
                    "the provider did not answer the cancel in time".into(),
                ),
                _ => ApiError::Upstream("the provider did not accept the cancel".into()),
            })
        }
    }
}
