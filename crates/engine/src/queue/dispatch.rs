//! Sending one claimed task upstream. The claim (a slot at one provider, under this
//! replica's lease) is the written intent; the provider's task id is recorded right after
//! its answer. A create is never sent twice: when this replica dies in between, the lease
//! runs out and the watcher fails the task with `create_outcome_unknown` (see [`expire`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use taskgate_core::providers::CannotRun;
use taskgate_core::{CreateOptions, InputError, TaskError, TaskInput, TaskType, UpstreamError};
use taskgate_store::{QueueEntry, QueueState, TaskRecord};

use super::policy::queueable;
use super::runnable::{self, NoRunnableProvider};
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
    /// No provider of its list can run the task type under the running config (each one's
    /// reason, e.g. a missing `server.public_url`).
    NoProvider(NoRunnableProvider),
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
            CreateFailure::NoProvider(e) => e.to_string(),
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
    // What the create answers with when no provider is left (see `exhausted`).
    let mut last: Option<CreateFailure> = None;
    let mut circuit_open = false;
    let mut unrunnable: Vec<(String, CannotRun)> = Vec::new();
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
            Err(SendError::CannotRun(why)) => {
                tracing::warn!(task = %record.task.id, provider = %provider, reason = ?why, "provider cannot run this task under the running config; trying the next");
                unrunnable.push((provider.clone(), why));
                None
            }
            Err(SendError::Call(CallError::CircuitOpen)) => {
                circuit_open = true;
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
            let task_type = record.task.task_type;
            let Some(failure) = exhausted(last, circuit_open, unrunnable, task_type, mode) else {
                return requeue(state, runtime, record, entry, original).await;
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

/// How a dispatch that ran out of candidates ends: the failure to answer or store, or
/// `None` to wait in line again. `last` is the last provider's own failure; without one,
/// open circuits close again (wait, or `Unhealthy` for a create waiting on the answer), and
/// providers that cannot run the type under this config never will (`NoProvider`).
fn exhausted(
    last: Option<CreateFailure>,
    circuit_open: bool,
    unrunnable: Vec<(String, CannotRun)>,
    task_type: TaskType,
    mode: Mode,
) -> Option<CreateFailure> {
    if last.is_some() {
        return last;
    }
    if !circuit_open && !unrunnable.is_empty() {
        return Some(CreateFailure::NoProvider(NoRunnableProvider {
            task_type,
            refused: unrunnable,
        }));
    }
    (mode == Mode::Inline).then_some(CreateFailure::Unhealthy)
}

/// Why one create attempt sent nothing or failed.
enum SendError {
    /// The provider is gone from the config: next one.
    Skip,
    /// The provider cannot run the type under the running config: next one.
    CannotRun(CannotRun),
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
    if let Some(Err(why)) = runnable::can_run(runtime, provider, record.task.task_type) {
        return Err(SendError::CannotRun(why));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn compat_needs_callback() -> Vec<(String, CannotRun)> {
        vec![("comet-compat".to_string(), CannotRun::NeedsCallbackUrl)]
    }

    #[test]
    fn out_of_candidates_that_cannot_run_the_type_fails_in_either_mode() {
        for mode in [Mode::Inline, Mode::Background] {
            let failure = exhausted(
                None,
                false,
                compat_needs_callback(),
                TaskType::CharacterPerformance,
                mode,
            );
            let Some(CreateFailure::NoProvider(e)) = failure else {
                panic!("{mode:?}: {failure:?}");
            };
            assert!(e.to_string().contains("server.public_url"), "{e}");
        }
    }

    #[test]
    fn an_open_circuit_still_waits_in_line_or_answers_unhealthy() {
        for unrunnable in [Vec::new(), compat_needs_callback()] {
            let t = TaskType::CharacterPerformance;
            let background = exhausted(None, true, unrunnable.clone(), t, Mode::Background);
            assert!(background.is_none(), "{background:?}");
            let inline = exhausted(None, true, unrunnable, t, Mode::Inline);
            assert!(
                matches!(inline, Some(CreateFailure::Unhealthy)),
                "{inline:?}"
            );
        }
    }

    #[test]
    fn the_last_providers_own_failure_wins() {
        let last = Some(CreateFailure::RateLimited {
            provider: "runway".into(),
            retry_after: Duration::from_secs(1),
        });
        let failure = exhausted(
            last,
            true,
            compat_needs_callback(),
            TaskType::CharacterPerformance,
            Mode::Background,
        );
        assert!(
            matches!(failure, Some(CreateFailure::RateLimited { .. })),
            "{failure:?}"
        );
    }
}
