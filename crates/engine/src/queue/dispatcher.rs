//! The dispatcher: whenever a slot may have freed (a task at a limited provider ended, the
//! config was reloaded, a provider's rest ended) and on a short tick, claims waiting tasks
//! from the store's queue (one queue for every replica) and sends each upstream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use taskgate_store::{Pick, TaskRecord};
use tokio::sync::{watch, Notify};

use super::dispatch::{self, Mode};
use super::policy::dispatch_policy;
use crate::runtime::Runtime;
use crate::state::AppState;

/// Claims per round; more wait for the next round, which comes at once.
pub const BATCH: usize = 16;
/// The safety net for a slot freed on another replica, or an event that never came.
const TICK: Duration = Duration::from_millis(500);

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        let full = round(&state).await == BATCH;
        let now = tokio::time::Instant::now();
        let mut pause = if full { Duration::ZERO } else { TICK };
        if let Some(end) = state.cooldowns.next_end(now) {
            pause = pause.min(end - now);
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = state.queue_ready.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One claim; each claimed task is sent on its own. Returns how many were claimed.
pub async fn round(state: &AppState) -> usize {
    let runtime = state.runtime.load_full();
    let policy = dispatch_policy(state, &runtime);
    let lease = dispatch::longest_lease(&runtime);
    let claimed = state
        .store
        .claim_dispatch(
            &state.replica_id,
            Utc::now(),
            lease,
            &policy,
            Pick::Fair { limit: BATCH },
        )
        .await;
    match claimed {
        Ok(records) => {
            let count = records.len();
            for record in records {
                spawn(state, &runtime, record);
            }
            count
        }
        Err(e) => {
            tracing::warn!(error = %e, "dispatcher could not claim queued tasks");
            0
        }
    }
}

/// Sends a claimed task in the background.
pub fn spawn(state: &AppState, runtime: &Arc<Runtime>, record: TaskRecord) {
    let state = state.clone();
    let runtime = runtime.clone();
    // Counted before the spawn, so a shutdown starting now already waits for it.
    state.dispatches.begin();
    tokio::spawn(async move {
        let _counted = state.dispatches.until_dropped();
        dispatch::dispatch(&state, &runtime, record, Mode::Background).await;
    });
}

/// Background dispatches in flight. A graceful shutdown waits for them (within its grace)
/// before closing the store: a create the provider accepted must have its task id
/// recorded, or the task would fail as `create_outcome_unknown` although it runs.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// One dispatch counted in [`InFlight`] until dropped (also when its task panics).
pub struct Job<'a> {
    of: &'a InFlight,
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        if self.of.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.of.idle.notify_waiters();
        }
    }
}

impl InFlight {
    /// Counts one more dispatch; pair with [`InFlight::until_dropped`] in its task.
    pub fn begin(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Ends the count of one begun dispatch when dropped (also when its task panics).
    pub fn until_dropped(&self) -> Job<'_> {
        Job { of: self }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Returns once no dispatch is in flight.
    pub async fn idle(&self) {
        loop {
            // Registered before the check, so a dispatch ending in between still wakes us.
            let ended = self.idle.notified();
            if self.count() == 0 {
                return;
            }
            ended.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_every_begun_dispatch() {
        let in_flight = Arc::new(InFlight::default());
        in_flight.idle().await;
        in_flight.begin();
        in_flight.begin();
        let waiter = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.idle().await }
        });
        tokio::task::yield_now().await;
        drop(in_flight.until_dropped());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one dispatch is still in flight");
        drop(in_flight.until_dropped());
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("idle after the last dispatch")
            .unwrap();
    }
}
