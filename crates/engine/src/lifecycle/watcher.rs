//! The watcher: claims due unfinished tasks from the store (with a lease, so replicas
//! share the work) and refreshes each through the same single-flight path as reads.
//! Tasks in the store are its only state, so it picks everything up again after a restart.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{watch, Semaphore};

use crate::state::AppState;
use crate::tasks::refresh::{self, Asker};

/// Claims per round; more wait for the next round.
const BATCH: usize = 64;
/// Refreshes in flight at once.
const CONCURRENCY: usize = 16;

fn tick(watch_every: Duration) -> Duration {
    (watch_every / 5).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// How long a claim lasts: it must outlast one refresh (a wait for the provider's budget
/// of up to `watch_every`, then the slowest guarded poll), plus slack for the store
/// write; short otherwise, so a dead replica's tasks are picked up soon.
pub fn lease(runtime: &crate::runtime::Runtime) -> Duration {
    let timings = runtime.config.tasks;
    let slowest_poll = runtime
        .config
        .providers
        .keys()
        .map(|name| refresh::poll_bound(runtime, name))
        .max()
        .unwrap_or_default();
    (timings.watch_every * 3).max(timings.watch_every + slowest_poll + Duration::from_secs(5))
}

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        let runtime = state.runtime.load_full();
        let timings = runtime.config.tasks;
        let lease = lease(&runtime);
        let claimed = state
            .store
            .claim_due(&state.replica_id, Utc::now(), lease, BATCH)
            .await;
        let mut full_batch = false;
        match claimed {
            Ok(records) => {
                full_batch = records.len() == BATCH;
                for record in records {
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let state = state.clone();
                    let runtime = runtime.clone();
                    tokio::spawn(async move {
                        if record.queue.is_some() {
                            crate::queue::expiry::expire(&state, &runtime, record).await;
                            drop(slot);
                            return;
                        }
                        if record.outputs_copy.is_some() {
                            crate::outputs::copy::run(&state, &runtime, record).await;
                            drop(slot);
                            return;
                        }
                        let id = record.task.id.clone();
                        let work = refresh::refresh(state.clone(), runtime, record, Asker::Watcher);
                        if let Some(Err(e)) = state.refreshes.run(&id, work).await {
                            tracing::warn!(task = %id, error = %e, "watcher could not store a refresh");
                        }
                        drop(slot);
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "watcher could not claim due tasks"),
        }
        let pause = if full_batch {
            Duration::ZERO
        } else {
            tick(
                timings
                    .watch_every
                    .min(runtime.config.webhooks.progress_every),
            )
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
