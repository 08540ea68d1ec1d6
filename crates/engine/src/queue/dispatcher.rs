//! The dispatcher: whenever a slot may have freed (a task at a limited provider ended, the
//! config was reloaded, a provider's rest ended) and on a short tick, claims waiting tasks
//! from the store's queue (one queue for every replica) and sends each upstream.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use taskgate_store::{Pick, TaskRecord};
use tokio::sync::watch;

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
    tokio::spawn(async move {
        dispatch::dispatch(&state, &runtime, record, Mode::Background).await;
    });
}
