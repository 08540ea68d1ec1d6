//! `POST /v1/tasks/{id}/cancel`: where the provider can, cancel upstream, then record it.

use chrono::Utc;
use taskgate_core::{FailureClass, Task};

use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::state::AppState;
use crate::tasks::commit::commit;
use crate::traffic::upstream::CallError;

/// Attempts to store the canceled state before giving up on write races.
const MAX_CAS_ATTEMPTS: usize = 5;

pub async fn cancel(state: &AppState, caller: &Caller, id: &str) -> Result<Task, ApiError> {
    let record = state
        .store
        .get(&caller.tenant, id)
        .await?
        .ok_or_else(ApiError::task_not_found)?;
    if record.task.is_terminal() {
        return Err(ApiError::Conflict(format!(
            "the task is already {}",
            record.task.status
        )));
    }
    let upstream = state
        .upstream(&caller.runtime, &record.task.provider)
        .ok_or(ApiError::CancelUnsupported)?;
    if !upstream.provider.capabilities().can_cancel {
        return Err(ApiError::CancelUnsupported);
    }
    let provider_task_id = record.task.provider_task_id.clone().unwrap_or_default();
    let key = caller
        .tenant_config()
        .and_then(|t| t.upstream_keys.get(&record.task.provider));
    match upstream.cancel(&provider_task_id, key).await {
        Ok(()) => {}
        Err(CallError::RateLimited { retry_after }) => {
            return Err(ApiError::RateLimited {
                message: "the provider is at its rate limit".into(),
                retry_after,
            })
        }
        Err(CallError::CircuitOpen) => {
            return Err(ApiError::Unavailable(
                "the task's provider is unhealthy; try again later".into(),
            ))
        }
        Err(CallError::Unsupported(_)) => return Err(ApiError::CancelUnsupported),
        Err(CallError::Upstream(e)) => {
            tracing::warn!(task = %id, class = e.class.as_str(), error = %e.message, "cancel failed upstream");
            return Err(match e.class {
                FailureClass::OutcomeUnknown if e.timed_out => ApiError::UpstreamTimeout(
                    "the provider did not answer the cancel in time".into(),
                ),
                _ => ApiError::Upstream("the provider did not accept the cancel".into()),
            });
        }
    }
    let mut record = record;
    for _ in 0..MAX_CAS_ATTEMPTS {
        if !record.task.cancel(Utc::now()) {
            // It finished upstream before the cancel landed.
            return Err(ApiError::Conflict(format!(
                "the task is already {}",
                record.task.status
            )));
        }
        record.next_check_at = None;
        if commit(state, false, &record).await?.is_some() {
            return Ok(record.task);
        }
        record = state
            .store
            .get(&caller.tenant, id)
            .await?
            .ok_or_else(ApiError::task_not_found)?;
    }
    Err(ApiError::Unavailable(
        "the task is being updated concurrently; try again".into(),
    ))
}
