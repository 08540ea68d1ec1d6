//! Storing a validated create and sending it on: the task is written first, then sent
//! upstream when one of its providers has a free slot (else it waits in the gateway's
//! queue); a create that reached no provider is dropped again and answered as an error.

use chrono::Utc;
use taskgate_config::TenantConfig;
use taskgate_core::{FailureClass, Task, UpstreamError};
use taskgate_store::{Pick, QueueEntry, QueueState, TaskRecord};

use super::create::{Checked, CreateTaskRequest, Created};
use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::queue::dispatch::{self, CreateFailure, Dispatched, Mode};
use crate::queue::policy::{dispatch_policy, queueable};
use crate::queue::{dispatcher, place};
use crate::state::AppState;
use crate::tasks::refresh::to_chrono;

/// Stores the task first (so nothing accepted is ever lost), then sends it upstream when
/// a slot is free for it now, else leaves it waiting in the gateway's queue.
pub(super) async fn submit(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantConfig,
    request: &CreateTaskRequest,
    checked: Checked,
    idempotency_key: Option<&str>,
) -> Result<Created, ApiError> {
    let Checked {
        callback_events,
        priority,
        candidates,
        metadata,
    } = checked;
    let runtime = &caller.runtime;
    let _slot = reserve_unfinished_slot(state, caller, tenant).await?;
    let queues = queueable(runtime, &candidates);
    if queues {
        check_max_queued(state, caller, tenant).await?;
    }
    let now = Utc::now();
    let id = format!("task_{}", ulid::Ulid::new());
    let task = Task::waiting(id.clone(), request.task_type, metadata, now);
    let mut record = TaskRecord::new(caller.tenant.clone(), task, request.callback_url.clone());
    record.callback_events = callback_events;
    let lease = dispatch::lease(runtime, &candidates);
    let first = candidates.first().cloned().unwrap_or_default();
    let entry = QueueEntry {
        state: QueueState::Waiting,
        priority,
        candidates,
        head: false,
        input: request.input.to_string(),
    };
    if queues {
        record.queue = Some(entry);
        record.next_check_at = Some(dispatch::queue_deadline(runtime, &record));
    } else {
        // Nothing to count: the create is this replica's from the start, as a claim would
        // make it.
        record.queue = Some(QueueEntry {
            state: QueueState::Dispatching { provider: first },
            ..entry
        });
        record.lease_owner = Some(state.replica_id.clone());
        record.lease_until = Some(now + to_chrono(lease));
        record.next_check_at = record.lease_until;
    }
    state.store.insert(&record).await?;
    if let Some(key) = idempotency_key {
        state
            .store
            .complete_idempotency(&caller.tenant, key, &id)
            .await?;
    }
    let claimed = if queues {
        claim_with_others(state, runtime, &record, lease).await?
    } else {
        Some(record.clone())
    };
    let Some(claimed) = claimed else {
        tracing::info!(task = %id, "task queued");
        return Ok(Created {
            task: place::task_of(state, runtime, &record).await?,
        });
    };
    match dispatch::dispatch(state, runtime, claimed, Mode::Inline).await {
        Dispatched::Accepted(record) => Ok(Created { task: record.task }),
        Dispatched::Waiting(record) => Ok(Created {
            task: place::task_of(state, runtime, &record).await?,
        }),
        Dispatched::NotCreated { record, failure } => {
            // Nothing reached a provider: as if the create never happened.
            state
                .store
                .discard(&caller.tenant, &id, record.version)
                .await?;
            // Its idempotency key is released by the caller.
            Err(create_error(failure))
        }
        Dispatched::Unknown { failure, .. } => Err(create_error(failure)),
        Dispatched::Lost => {
            let record = state
                .store
                .get(&caller.tenant, &id)
                .await?
                .ok_or_else(ApiError::task_not_found)?;
            Ok(Created {
                task: place::task_of(state, runtime, &record).await?,
            })
        }
    }
}

/// Runs a claim for the queue when one of our providers has a free slot (fair between
/// tenants: tasks already waiting go first), sends the others it took in the background,
/// and returns ours if it was among them.
async fn claim_with_others(
    state: &AppState,
    runtime: &std::sync::Arc<crate::runtime::Runtime>,
    record: &TaskRecord,
    lease: std::time::Duration,
) -> Result<Option<TaskRecord>, ApiError> {
    let policy = dispatch_policy(state, runtime);
    let candidates = record
        .queue
        .as_ref()
        .map(|q| q.candidates.as_slice())
        .unwrap_or_default();
    let claimed = state
        .store
        .claim_dispatch(
            &state.replica_id,
            Utc::now(),
            lease,
            &policy,
            Pick::FairWhenFree {
                limit: dispatcher::BATCH,
                providers: candidates,
            },
        )
        .await?;
    let mut ours = None;
    for other in claimed {
        if other.task.id == record.task.id {
            ours = Some(other);
        } else {
            dispatcher::spawn(state, runtime, other);
        }
    }
    Ok(ours)
}

/// `tenants.X.max_queued`: tasks of the tenant already waiting in the gateway's queue.
async fn check_max_queued(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantConfig,
) -> Result<(), ApiError> {
    let waiting: u64 = state
        .store
        .count_waiting(Some(&caller.tenant))
        .await?
        .iter()
        .map(|c| c.count)
        .sum();
    if waiting >= tenant.max_queued {
        return Err(ApiError::ConcurrencyLimited);
    }
    Ok(())
}

/// What the client hears about a create that reached no provider (or whose outcome is
/// unknown): the same answers as before the queue.
fn create_error(failure: CreateFailure) -> ApiError {
    match failure {
        CreateFailure::RateLimited {
            provider,
            retry_after,
        } => ApiError::RateLimited {
            message: format!("provider {provider} is at its rate limit"),
            retry_after,
        },
        CreateFailure::Unhealthy => ApiError::Unavailable(
            "every provider for this task type is unhealthy; try again later".into(),
        ),
        CreateFailure::Unsupported(e) => ApiError::InvalidRequest(e.to_string()),
        CreateFailure::Upstream { provider, error } => upstream_api_error(&provider, &error),
        CreateFailure::NoProvider(e) => e.into(),
    }
}

/// Holds one of the tenant's unfinished-task slots while a create is in flight.
struct UnfinishedSlot<'a> {
    state: &'a AppState,
    tenant: String,
}

impl Drop for UnfinishedSlot<'_> {
    fn drop(&mut self) {
        let mut creating = self
            .state
            .creating
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = creating.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                creating.remove(&self.tenant);
            }
        }
    }
}

/// Counts stored unfinished tasks plus creates in flight against `max_unfinished_tasks`.
async fn reserve_unfinished_slot<'a>(
    state: &'a AppState,
    caller: &Caller,
    tenant: &TenantConfig,
) -> Result<Option<UnfinishedSlot<'a>>, ApiError> {
    let Some(cap) = tenant.max_unfinished_tasks else {
        return Ok(None);
    };
    let stored = state.store.count_unfinished(&caller.tenant).await?;
    let mut creating = state
        .creating
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let in_flight = creating.entry(caller.tenant.clone()).or_insert(0);
    if stored + *in_flight >= cap {
        return Err(ApiError::ConcurrencyLimited);
    }
    *in_flight += 1;
    Ok(Some(UnfinishedSlot {
        state,
        tenant: caller.tenant.clone(),
    }))
}

/// What the client hears about a failed upstream create.
fn upstream_api_error(provider: &str, e: &UpstreamError) -> ApiError {
    match e.class {
        FailureClass::Rejected => ApiError::InvalidRequest(format!(
            "provider {provider} rejected the input: {}",
            e.message
        )),
        FailureClass::OutcomeUnknown if e.timed_out => {
            ApiError::UpstreamTimeout(format!("provider {provider} did not answer in time"))
        }
        _ => ApiError::Upstream(format!("provider {provider} failed to create the task")),
    }
}
