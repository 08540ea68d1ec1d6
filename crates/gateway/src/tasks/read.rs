//! Reading a task: refresh-on-read through single-flight, and waiting for its end.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use taskgate_core::Task;

use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::queue::place;
use crate::state::AppState;
use crate::tasks::refresh::{self, Asker, Stale};

/// Longest long-poll a client may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Waiters re-read the store this often: the safety net for a change whose event never
/// arrived (made on another replica while Redis was away).
pub const STORE_RECHECK: Duration = Duration::from_secs(1);

/// The task, refreshed from its provider first when it is unfinished and stale.
pub async fn read(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(Task, Option<Stale>), ApiError> {
    let record = state
        .store
        .get(&caller.tenant, id)
        .await?
        .ok_or_else(ApiError::task_not_found)?;
    if record.queue.is_some() {
        // Still in the gateway's queue: no provider to ask yet.
        return Ok((place::task_of(state, &caller.runtime, &record).await?, None));
    }
    if refresh::is_fresh_here(state, &record, &caller.runtime, Utc::now()) {
        return Ok((record.task, None));
    }
    let work = refresh::refresh(state.clone(), caller.runtime.clone(), record, Asker::Read);
    match state.refreshes.run(id, work).await {
        Some(Ok(refreshed)) => Ok((refreshed.record.task, refreshed.stale)),
        Some(Err(e)) => {
            tracing::error!(task = %id, error = %e, "refresh could not be stored");
            Err(ApiError::Unavailable(
                "the task store is unavailable; try again".into(),
            ))
        }
        None => Err(ApiError::Internal),
    }
}

/// Parses `wait` (whole seconds, 0 to 60).
pub fn parse_wait(text: Option<&str>) -> Result<Duration, ApiError> {
    let Some(text) = text else {
        return Ok(Duration::ZERO);
    };
    match text.parse::<u64>() {
        Ok(n) if n <= MAX_WAIT.as_secs() => Ok(Duration::from_secs(n)),
        _ => Err(ApiError::InvalidRequest(format!(
            "wait: must be a whole number of seconds from 0 to {}",
            MAX_WAIT.as_secs()
        ))),
    }
}

/// Waits up to `wait` for `task` to finish, woken by the task's events (the watcher or
/// another reader moves it); costs no upstream call of its own.
pub async fn wait_for_end(
    state: &AppState,
    caller: &Caller,
    task: Task,
    wait: Duration,
) -> Result<Task, ApiError> {
    if task.is_terminal() || wait.is_zero() {
        return Ok(task);
    }
    let mut subscription = state.events.subscribe(&task.id);
    // A change between the read and the subscription would be missed: look once more.
    let latest = latest(state, caller, &task.id).await?.unwrap_or(task);
    if latest.is_terminal() {
        return Ok(latest);
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut latest = latest;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return latest_or(state, caller, latest).await;
        }
        // `Some(seen)`: an event (the guard is dropped here, before any await).
        let ended = match tokio::time::timeout(
            left.min(STORE_RECHECK),
            subscription
                .receiver
                .wait_for(|t| t.as_ref().is_some_and(|t| t.is_terminal())),
        )
        .await
        {
            Ok(Ok(seen)) => Some(Ok(seen.as_ref().map(|t| Task::clone(t)))),
            Ok(Err(_)) => Some(Err(())),
            Err(_) => None,
        };
        match ended {
            Some(Ok(Some(task))) => return Ok(task),
            Some(Ok(None)) => {}
            Some(Err(())) => return latest_or(state, caller, latest).await,
            None => {
                latest = latest_or(state, caller, latest).await?;
                if latest.is_terminal() {
                    return Ok(latest);
                }
            }
        }
    }
}

async fn latest(state: &AppState, caller: &Caller, id: &str) -> Result<Option<Task>, ApiError> {
    Ok(state.store.get(&caller.tenant, id).await?.map(|r| r.task))
}

async fn latest_or(state: &AppState, caller: &Caller, fallback: Task) -> Result<Task, ApiError> {
    Ok(latest(state, caller, &fallback.id)
        .await?
        .unwrap_or(fallback))
}

/// The stream of a task's states for SSE: the current one, then each change of status or
/// progress, ending after the terminal one.
pub fn changes(
    state: AppState,
    caller: Caller,
    first: Task,
) -> impl futures::Stream<Item = Arc<Task>> + Send {
    let subscription = state.events.subscribe(&first.id);
    let start = (
        Some(Arc::new(first)),
        subscription,
        None::<Arc<Task>>,
        false,
        state,
        caller,
    );
    futures::stream::unfold(
        start,
        |(pending, mut sub, last, done, state, caller)| async move {
            if done {
                return None;
            }
            if let Some(task) = pending {
                let finished = task.is_terminal();
                return Some((
                    task.clone(),
                    (None, sub, Some(task), finished, state, caller),
                ));
            }
            loop {
                let task = match tokio::time::timeout(STORE_RECHECK, sub.receiver.changed()).await {
                    Ok(Ok(())) => sub.receiver.borrow_and_update().clone(),
                    Ok(Err(_)) => return None,
                    // No event for a while: look in the store (a change on another replica
                    // whose event was lost). A store error waits for the next round.
                    Err(_) => match &last {
                        Some(l) => state
                            .store
                            .get(&caller.tenant, &l.id)
                            .await
                            .ok()
                            .flatten()
                            .map(|r| Arc::new(r.task)),
                        None => None,
                    },
                };
                let Some(task) = task else {
                    continue;
                };
                // Leaving the gateway's queue (a provider takes it) is a change too.
                let moved = last.as_ref().is_none_or(|l| {
                    l.status != task.status
                        || l.progress != task.progress
                        || l.provider != task.provider
                });
                if moved {
                    let finished = task.is_terminal();
                    return Some((
                        task.clone(),
                        (None, sub, Some(task), finished, state, caller),
                    ));
                }
            }
        },
    )
}
