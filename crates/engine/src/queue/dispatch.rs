//! Sending one claimed task upstream. The claim (a slot at one provider, under this
//! replica's lease) is the written intent; the provider's task id is recorded right after
//! its answer. A create is never sent twice: when this replica dies in between, the lease
//! runs out and the watcher fails the task with `create_outcome_unknown` (see [`expire`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use taskgate_core::{CreateOptions, InputError, TaskError, TaskInput, UpstreamError};
use taskgate_store::{QueueEntry, QueueState, TaskRecord};

use super::policy::queueable;
use super::transitions::{accept, fall_back, not_created, requeue, unknown, Next};
use crate::runtime::Runtime;
use crate::state::AppState;
use crate::tasks::callback_token;
use crate::tasks::refresh::{poll_bound, to_chrono};
use crate::traffic::upstream::CallError;

/// Who waits for the dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The create request: a failure that created nothing is left to it to answer (and the
    /// task to discard), as before the queue.
    Inline,
    /// The dispatcher: a failure is stored on the task (and its webhook sent).
    Background,
}

/// Why a create reached no provider.
#[derive(Debug)]
pub enum CreateFailure {
    /// The provider's rate budget (ours) was spent.
    RateLimited {
        provider: String,
        retry_after: Duration,
    },
    /// Every provider tried had its circuit open.
    Unhealthy,
    /// The provider cannot express the input.
    Unsupported(InputError),
    /// The provider failed (the class says whether it may have created the task).
    Upstream {
        provider: String,
        error: UpstreamError,
    },
    /// No configured provider of its list can run the task type.
    NoProvider,
}

impl CreateFailure {
    /// The task's error when the failure is stored.
    pub(super) fn task_error(&self) -> TaskError {
        let message = match self {
            CreateFailure::RateLimited { provider, .. } => {
                format!("provider {provider} is at its rate limit")
            }
            CreateFailure::Unhealthy => "every provider for this task is unhealthy".into(),
            CreateFailure::Unsupported(e) => e.to_string(),
            CreateFailure::Upstream { provider, error } => {
                format!(
                    "provider {provider} failed to create the task: {}",
                    error.message
                )
            }
            CreateFailure::NoProvider => "no configured provider can run this task".into(),
        };
        TaskError::new(TaskError::PROVIDER_FAILED, message)
    }
}

/// How a dispatch ended.
#[derive(Debug)]
pub enum Dispatched {
    /// A provider has the task.
    Accepted(TaskRecord),
    /// Back in the gateway's queue: refused for capacity, or no free slot at its remaining
    /// candidates.
    Waiting(TaskRecord),
    /// Nothing was created upstream. Inline: the record (still leased) for the caller to
    /// discard; background: stored as failed.
    NotCreated {
        record: TaskRecord,
        failure: CreateFailure,
    },
    /// The provider may have created it: stored as failed with `create_outcome_unknown`.
    Unknown {
        record: TaskRecord,
        failure: CreateFailure,
    },
    /// Someone else changed the task meanwhile; it is theirs now.
    Lost,
}

/// The lease a dispatch holds: enough for the slowest guarded create among `candidates`
/// (every attempt timing out, with backoff), plus slack for the store writes.
pub fn lease(runtime: &Runtime, candidates: &[String]) -> Duration {
    candidates
        .iter()
        .map(|name| poll_bound(runtime, name))
        .max()
        .unwrap_or_default()
        + Duration::from_secs(3)
}

/// The longest lease any dispatch takes under `runtime`.
pub fn longest_lease(runtime: &Runtime) -> Duration {
    let all: Vec<String> = runtime.config.providers.keys().cloned().collect();
    lease(runtime, &all)
}

/// Sends `claimed` (state `Dispatching`, leased to this replica) to its provider, falling
/// back along its candidates while nothing was created.
pub async fn dispatch(
    state: &AppState,
    runtime: &Arc<Runtime>,
    claimed: TaskRecord,
    mode: Mode,
) -> Dispatched {
    let Some(original) = claimed.queue.as_ref().map(|q| q.candidates.clone()) else {
        return Dispatched::Lost;
    };
    // A route without limits keeps the behaviour it had before the queue: a refusal falls
    // back, and the last failure is the create's answer.
    let queues = mode == Mode::Background || queueable(runtime, &original);
    let mut record = claimed;
    // The failure the create answers with when no provider is left: every circuit open,
    // else the last provider's own failure.
    let mut all_open = true;
    let mut last: Option<CreateFailure> = None;
    loop {
        let Some(entry) = record.queue.clone() else {
            return Dispatched::Lost;
        };
        let QueueState::Dispatching { provider } = entry.state.clone() else {
            return Dispatched::Lost;
        };
        let failure = match send(state, runtime, &record, &entry, &provider).await {
            Ok(provider_task_id) => {
                state.cooldowns.accepted(&provider);
                return accept(state, runtime, record, provider.clone(), provider_task_id).await;
            }
            Err(SendError::Skip) => None,
            Err(SendError::Call(CallError::CircuitOpen)) => {
                // A half-open circuit lets one probe through and refuses the rest: rest the
                // provider, or a requeued task would come straight back to it.
                state.cooldowns.refused(&provider, None);
                tracing::info!(task = %record.task.id, provider = %provider, "circuit open; trying the next provider");
                None
            }
            Err(SendError::Call(CallError::RateLimited { retry_after })) => {
                state.cooldowns.refused(&provider, Some(retry_after));
                if queues {
                    return requeue(state, runtime, record, entry, original).await;
                }
                Some(CreateFailure::RateLimited {
                    provider: provider.clone(),
                    retry_after,
                })
            }
            Err(SendError::Call(CallError::Unsupported(e))) => {
                tracing::info!(task = %record.task.id, provider = %provider, reason = %e, "provider cannot express this input; trying the next");
                Some(CreateFailure::Unsupported(e))
            }
            Err(SendError::Call(CallError::Upstream(error))) => {
                let refused = error.http_status == Some(429) && error.certainly_not_created();
                if refused {
                    let rest = state.cooldowns.refused(&provider, error.retry_after);
                    tracing::info!(task = %record.task.id, provider = %provider, rest_ms = rest.as_millis() as u64, "provider refused the create for capacity");
                    if queues {
                        return requeue(state, runtime, record, entry, original).await;
                    }
                } else {
                    tracing::warn!(task = %record.task.id, provider = %provider, class = error.class.as_str(), status = ?error.http_status, error = %error.message, "create failed upstream");
                }
                let failure = CreateFailure::Upstream {
                    provider: provider.clone(),
                    error,
                };
                if !failure_left_nothing(&failure) {
                    return unknown(state, record, failure).await;
                }
                Some(failure)
            }
        };
        if let Some(failure) = failure {
            all_open = false;
            last = Some(failure);
        }
        let remaining: Vec<String> = entry
            .candidates
            .iter()
            .skip_while(|c| **c != provider)
            .skip(1)
            .cloned()
            .collect();
        if remaining.is_empty() {
            let failure = match last {
                Some(failure) if !all_open => failure,
                _ if all_open && mode == Mode::Background => {
                    // Circuits close again: wait in line rather than fail.
                    return requeue(state, runtime, record, entry, original).await;
                }
                _ => CreateFailure::Unhealthy,
            };
            return not_created(state, record, failure, mode).await;
        }
        match fall_back(state, runtime, record, entry, remaining).await {
            Next::Send(next) => record = next,
            Next::Wait(waiting) => return Dispatched::Waiting(waiting),
            Next::Lost => return Dispatched::Lost,
        }
    }
}

/// Why one create attempt sent nothing or failed.
enum SendError {
    /// The provider is gone from the config or does not run the type: next one.
    Skip,
    Call(CallError),
}

impl From<CallError> for SendError {
    fn from(e: CallError) -> SendError {
        SendError::Call(e)
    }
}

fn failure_left_nothing(failure: &CreateFailure) -> bool {
    match failure {
        CreateFailure::Upstream { error, .. } => error.certainly_not_created(),
        _ => true,
    }
}

/// One create at `provider`.
async fn send(
    state: &AppState,
    runtime: &Runtime,
    record: &TaskRecord,
    entry: &QueueEntry,
    provider: &str,
) -> Result<String, SendError> {
    let Some(upstream) = state.upstream(runtime, provider) else {
        tracing::warn!(task = %record.task.id, provider, "provider no longer configured; trying the next");
        return Err(SendError::Skip);
    };
    if !upstream.provider.capabilities().runs(record.task.task_type) {
        return Err(SendError::Skip);
    }
    let raw: serde_json::Value = serde_json::from_str(&entry.input).unwrap_or_default();
    let input = TaskInput::parse(record.task.task_type, &raw)
        .map_err(|e| SendError::Call(CallError::Unsupported(e)))?;
    // Providers that take a callback get the gateway's own, when it has a public address.
    let options = CreateOptions {
        callback_url: runtime.config.server.public_url.as_ref().map(|public| {
            callback_token::url(
                public,
                upstream.provider.key(None),
                &record.tenant,
                &record.task.id,
            )
        }),
    };
    let key = runtime
        .tenant(&record.tenant)
        .and_then(|t| t.upstream_keys.get(provider));
    Ok(upstream.create(&input, &options, key).await?)
}

/// When a waiting task gives up: `tasks.max_queued_for` after its create.
pub fn queue_deadline(runtime: &Runtime, record: &TaskRecord) -> DateTime<Utc> {
    record.task.created_at + to_chrono(runtime.config.tasks.max_queued_for)
}
