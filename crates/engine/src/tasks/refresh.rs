//! Refreshing an unfinished task from its provider: one guarded poll, applied as a
//! compare-and-set, shared by concurrent readers (and by the watcher).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use taskgate_core::{Event, FailureClass, TaskError};
use taskgate_store::TaskRecord;

use crate::runtime::Runtime;
use crate::state::AppState;
use crate::tasks::commit::commit;
use crate::traffic::backoff;
use crate::traffic::upstream::CallError;

/// Why a refresh could not even record its result.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreFailure(pub String);

/// Why the answer holds the stored state rather than the provider's latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// The provider's rate budget is spent.
    ProviderRateLimited,
    /// The provider's circuit is open.
    ProviderUnavailable,
    /// The poll failed.
    ProviderError,
}

impl Stale {
    /// The value of the `x-taskgate-stale` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Stale::ProviderRateLimited => "provider_rate_limited",
            Stale::ProviderUnavailable => "provider_unavailable",
            Stale::ProviderError => "provider_error",
        }
    }
}

/// Who asks for the refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// A client read: never waits for the provider's budget.
    Read,
    /// The background watcher: may wait for the budget up to `watch_every`.
    Watcher,
}

/// A refreshed record, and whether it could not be brought up to date.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub record: TaskRecord,
    pub stale: Option<Stale>,
}

pub fn to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// True when the record was refreshed within `refresh_after` (or is finished).
pub fn is_fresh(record: &TaskRecord, runtime: &Runtime, now: DateTime<Utc>) -> bool {
    // A held success has nothing left to learn from its provider.
    if record.task.is_terminal() || record.outputs_copy.is_some() {
        return true;
    }
    let window = to_chrono(runtime.config.tasks.refresh_after);
    record.refreshed_at.is_some_and(|at| now - at < window)
}

/// Like [`is_fresh`], counting polls this process made that changed nothing.
pub fn is_fresh_here(
    state: &AppState,
    record: &TaskRecord,
    runtime: &Runtime,
    now: DateTime<Utc>,
) -> bool {
    if is_fresh(record, runtime, now) {
        return true;
    }
    let window = to_chrono(runtime.config.tasks.refresh_after);
    let polled = state
        .polled_at
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    polled
        .get(&record.task.id)
        .is_some_and(|at| now - *at < window)
}

/// The longest one guarded poll of `provider` can take: every attempt timing out, with the
/// longest backoff between attempts, plus a second of slack.
pub fn poll_bound(runtime: &Runtime, provider: &str) -> std::time::Duration {
    let Some(config) = runtime.config.providers.get(provider) else {
        return std::time::Duration::from_secs(1);
    };
    config.settings.timeout * (config.retries + 1)
        + backoff::CAP * config.retries
        + std::time::Duration::from_secs(1)
}

/// Polls the provider once and stores what it said. Upstream trouble leaves the task as
/// it was (marked stale); only a store failure is an error. With a cluster, replicas
/// take turns first (see [`super::turns`]).
pub async fn refresh(
    state: AppState,
    runtime: Arc<Runtime>,
    record: TaskRecord,
    asker: Asker,
) -> Result<Refreshed, StoreFailure> {
    match state.cluster.clone() {
        None => poll_and_store(state, runtime, record, asker).await,
        Some(cluster) => super::turns::refresh(state, runtime, cluster, record, asker).await,
    }
}

/// Records that the task was polled at `at` without anything to store, so reads within
/// `refresh_after` do not poll again. Old notes go when the table grows.
pub(crate) fn note_polled(state: &AppState, id: &str, at: DateTime<Utc>, window: chrono::Duration) {
    let mut polled = state
        .polled_at
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if polled.len() >= POLLED_NOTES {
        let now = Utc::now();
        polled.retain(|_, noted| now - *noted < window);
    }
    polled.insert(id.to_string(), at);
}

/// Notes kept before stale ones are swept.
const POLLED_NOTES: usize = 4096;

pub(crate) async fn poll_and_store(
    state: AppState,
    runtime: Arc<Runtime>,
    record: TaskRecord,
    asker: Asker,
) -> Result<Refreshed, StoreFailure> {
    let mut next = record.clone();
    let max_wait = match asker {
        Asker::Read => std::time::Duration::ZERO,
        Asker::Watcher => runtime.config.tasks.watch_every,
    };
    let stale = poll_into(&state, &runtime, &mut next, max_wait).await;
    let now = Utc::now();
    let timings = &runtime.config.tasks;
    if matches!(
        stale,
        Some(Stale::ProviderRateLimited | Stale::ProviderUnavailable)
    ) {
        // Nothing was asked. A read writes nothing; the watcher puts the task back in line.
        if asker == Asker::Read {
            return Ok(Refreshed { record, stale });
        }
        next = record.clone();
        next.next_check_at = Some(now + jittered(to_chrono(timings.watch_every)));
        return store(&state, &record, next, stale).await;
    }
    if asker == Asker::Read && stale.is_none() && next.task == record.task {
        // Nothing a client can see changed: no durable write, only a note that we asked.
        note_polled(
            &state,
            &record.task.id,
            now,
            to_chrono(timings.refresh_after),
        );
        return Ok(Refreshed { record, stale });
    }
    if !next.task.is_terminal() && now - next.task.created_at > to_chrono(timings.give_up_after) {
        next.task.fail(
            TaskError::new(
                TaskError::TIMEOUT,
                "the task did not finish in the allowed time",
            ),
            now,
        );
    }
    next.refreshed_at = Some(now);
    next.next_check_at = (!next.task.is_terminal()).then(|| {
        let regular = now + next_interval(&next, now, watch_interval(&runtime, &next));
        match progress_held_until(&runtime, &next, now) {
            Some(at) => regular.min(at),
            None => regular,
        }
    });
    store(&state, &record, next, stale).await
}

/// How often the watcher looks at `record` while it is at its provider: `watch_every`, or
/// `webhooks.progress_every` when that is shorter and the task's callback wants
/// `task.progress` (the events need a poll to come from).
pub fn watch_interval(runtime: &Runtime, record: &TaskRecord) -> std::time::Duration {
    let watch_every = runtime.config.tasks.watch_every;
    if record.callback_url.is_some() && record.callback_events.contains(Event::Progress) {
        watch_every.min(runtime.config.webhooks.progress_every)
    } else {
        watch_every
    }
}

/// When a change the progress throttle held back may go out as a `task.progress`, if one
/// waits (so the latest state is sent as soon as the throttle allows, not a period later).
fn progress_held_until(
    runtime: &Runtime,
    record: &TaskRecord,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let last = record.progress_event_at?;
    let every = to_chrono(runtime.config.webhooks.progress_every);
    let wants = record.callback_url.is_some() && record.callback_events.contains(Event::Progress);
    (wants && record.task.updated_at > last && now - last < every).then_some(last + every)
}

/// How long until the watcher looks again: `watch_every` (see [`watch_interval`]) for a
/// task that changed lately, growing to 8× for one that has not changed for a long time;
/// ±10 % so tasks created together spread out.
fn next_interval(
    record: &TaskRecord,
    now: DateTime<Utc>,
    watch_every: std::time::Duration,
) -> chrono::Duration {
    let base = to_chrono(watch_every);
    let quiet = (now - record.task.updated_at) / 2;
    jittered(quiet.clamp(base, base * 8))
}

pub(crate) fn jittered(d: chrono::Duration) -> chrono::Duration {
    use rand::Rng;
    let factor = rand::thread_rng().gen_range(0.9..1.1);
    chrono::Duration::milliseconds((d.num_milliseconds() as f64 * factor) as i64)
}

pub(crate) async fn store(
    state: &AppState,
    record: &TaskRecord,
    mut next: TaskRecord,
    stale: Option<Stale>,
) -> Result<Refreshed, StoreFailure> {
    // The refresh is the work a watcher lease was taken for: done, so free it.
    next.lease_owner = None;
    next.lease_until = None;
    state
        .polled_at
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&record.task.id);
    let stored = match commit(state, record.task.status, &mut next).await {
        Ok(Some(version)) => {
            next.version = version;
            next
        }
        // Someone else stored a newer state first: theirs is at least as recent as ours.
        Ok(None) => match state.store.get(&record.tenant, &record.task.id).await {
            Ok(Some(latest)) => latest,
            Ok(None) => return Err(StoreFailure("task vanished during refresh".into())),
            Err(e) => return Err(StoreFailure(e.to_string())),
        },
        Err(e) => return Err(StoreFailure(e.to_string())),
    };
    Ok(Refreshed {
        record: stored,
        stale,
    })
}

async fn poll_into(
    state: &AppState,
    runtime: &Runtime,
    record: &mut TaskRecord,
    max_wait: std::time::Duration,
) -> Option<Stale> {
    let task = &mut record.task;
    // A task still in the gateway's queue has nobody to ask.
    let provider = task.provider.clone()?;
    let Some(upstream) = state.upstream(runtime, &provider) else {
        tracing::warn!(task = %task.id, provider = %provider, "provider no longer configured; serving stored state");
        return Some(Stale::ProviderUnavailable);
    };
    let provider_task_id = task.provider_task_id.clone()?;
    let tenant_key = runtime
        .tenant(&record.tenant)
        .and_then(|t| t.upstream_keys.get(&provider));
    match upstream
        .poll(&provider_task_id, task.task_type, tenant_key, max_wait)
        .await
    {
        Ok(snapshot) => {
            if snapshot.status.is_none() {
                tracing::warn!(task = %task.id, provider = %provider, word = %snapshot.provider_status, "unknown provider status word; keeping the last status");
            }
            task.apply(&snapshot, Utc::now());
            None
        }
        Err(CallError::Upstream(e)) if e.class == FailureClass::NotVisibleYet => {
            let now = Utc::now();
            if now - task.created_at > to_chrono(runtime.config.tasks.not_found_grace) {
                task.fail(
                    TaskError::new(TaskError::NOT_FOUND, "the provider does not know this task"),
                    now,
                );
            }
            None
        }
        Err(CallError::RateLimited { .. }) => Some(Stale::ProviderRateLimited),
        Err(CallError::CircuitOpen) => Some(Stale::ProviderUnavailable),
        Err(CallError::Upstream(e)) => {
            tracing::warn!(task = %task.id, provider = %provider, class = e.class.as_str(), error = %e.message, "refresh failed; serving stored state");
            Some(Stale::ProviderError)
        }
        Err(CallError::Unsupported(_)) => Some(Stale::ProviderError),
    }
}
