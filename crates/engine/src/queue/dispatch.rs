//! Sending one claimed task upstream. The claim (a slot at one provider, under this
//! replica's lease) is the written intent; the provider's task id is recorded right after
//! its answer. A create is never sent twice: when this replica dies in between, the lease
//! runs out and the watcher fails the task with `create_outcome_unknown` (see [`expire`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use taskgate_core::{CreateOptions, InputError, TaskError, TaskInput, UpstreamError};
use taskgate_store::{Pick, QueueEntry, QueueState, TaskRecord};

use super::policy::{dispatch_policy, queueable};
use crate::runtime::Runtime;
use crate::state::AppState;
use crate::tasks::callback_token;
use crate::tasks::commit::commit;
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
    fn task_error(&self) -> TaskError {
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

/// Records the provider's task id: the task has left the queue. The store is asked a few
/// times; if it stays away, the lease runs out and the task fails as
/// `create_outcome_unknown` rather than being sent again.
async fn accept(
    state: &AppState,
    runtime: &Runtime,
    mut record: TaskRecord,
    provider: String,
    provider_task_id: String,
) -> Dispatched {
    let now = Utc::now();
    record.task.provider = Some(provider);
    record.task.provider_task_id = Some(provider_task_id);
    record.task.updated_at = now;
    record.queue = None;
    record.lease_owner = None;
    record.lease_until = None;
    record.dispatched_at = Some(now);
    // Nothing to learn from the provider right after its create: the watcher's first look
    // comes one period later.
    record.next_check_at = Some(now + to_chrono(runtime.config.tasks.watch_every));
    for attempt in 0..3u32 {
        match commit(state, false, &record).await {
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
async fn requeue(
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

/// When a waiting task gives up: `tasks.max_queued_for` after its create.
pub fn queue_deadline(runtime: &Runtime, record: &TaskRecord) -> DateTime<Utc> {
    record.task.created_at + to_chrono(runtime.config.tasks.max_queued_for)
}

enum Next {
    Send(TaskRecord),
    Wait(TaskRecord),
    Lost,
}

/// The next candidates, in order: straight on when none of them limits its concurrency
/// (nothing to count), else through a claim like any other dispatch.
async fn fall_back(
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

async fn not_created(
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

async fn unknown(state: &AppState, record: TaskRecord, failure: CreateFailure) -> Dispatched {
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
async fn fail(
    state: &AppState,
    mut record: TaskRecord,
    provider: Option<String>,
    error: TaskError,
) -> Option<TaskRecord> {
    record.task.provider = provider;
    record.task.fail(error, Utc::now());
    record.queue = None;
    record.lease_owner = None;
    record.lease_until = None;
    record.next_check_at = None;
    match commit(state, false, &record).await {
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

/// Settles a queued task the watcher claimed: a waiting one past `tasks.max_queued_for`
/// fails with `queue_timeout` (else it is looked at again then); one whose dispatch lease
/// ran out fails with `create_outcome_unknown`: its create may have reached the provider,
/// and sending it again could run it twice.
pub async fn expire(state: &AppState, runtime: &Runtime, mut record: TaskRecord) {
    let Some(entry) = record.queue.clone() else {
        return;
    };
    let now = Utc::now();
    match entry.state {
        QueueState::Waiting => {
            let deadline = queue_deadline(runtime, &record);
            if now < deadline {
                record.lease_owner = None;
                record.lease_until = None;
                record.next_check_at = Some(deadline);
                if let Err(e) = state.store.update(&record).await {
                    tracing::warn!(task = %record.task.id, error = %e, "could not reschedule a queued task");
                }
                return;
            }
            let error = TaskError::new(
                TaskError::QUEUE_TIMEOUT,
                "the task waited in the gateway's queue longer than tasks.max_queued_for",
            );
            fail(state, record, None, error).await;
        }
        QueueState::Dispatching { provider } => {
            tracing::error!(task = %record.task.id, provider = %provider, "a dispatch did not finish (its replica stopped?); the create's outcome is unknown");
            let error = TaskError::new(
                TaskError::CREATE_OUTCOME_UNKNOWN,
                "the gateway stopped while sending the task; it was not sent again",
            );
            fail(state, record, Some(provider), error).await;
        }
    }
}
