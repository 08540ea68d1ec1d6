//! Taking turns across replicas before a refresh polls the provider: the replica whose
//! turn it is polls and stores; the others wait for its result (bounded by the provider's
//! timeout) and serve what the store then holds, so concurrent reads on several replicas
//! cost one upstream poll per `refresh_after`. Without an answer from Redis, every
//! replica polls (each behind its own single-flight).

use std::sync::Arc;

use chrono::Utc;
use taskgate_store::TaskRecord;

use super::refresh::{
    jittered, note_polled, poll_and_store, poll_bound, store, to_chrono, Asker, Refreshed, Stale,
    StoreFailure,
};
use crate::cluster::poll_lock::Turn;
use crate::cluster::Cluster;
use crate::runtime::Runtime;
use crate::state::AppState;

/// Takes this replica's turn, or follows the replica that has it.
pub async fn refresh(
    state: AppState,
    runtime: Arc<Runtime>,
    cluster: Arc<Cluster>,
    record: TaskRecord,
    asker: Asker,
) -> Result<Refreshed, StoreFailure> {
    let id = record.task.id.clone();
    // A watcher may first wait up to `watch_every` for the provider's budget.
    let budget_wait = match asker {
        Asker::Read => std::time::Duration::ZERO,
        Asker::Watcher => runtime.config.tasks.watch_every,
    };
    let provider = record.task.provider.clone().unwrap_or_default();
    let hold = poll_bound(&runtime, &provider) + budget_wait;
    match cluster.poll_lock.take(&cluster, &id, hold).await {
        Turn::Unknown => poll_and_store(state, runtime, record, asker).await,
        Turn::Ours => {
            let version = record.version;
            let result = poll_and_store(state, runtime.clone(), record, asker).await;
            cluster
                .poll_lock
                .done(&cluster, &id, runtime.config.tasks.refresh_after)
                .await;
            // Nothing stored, so no event went out: wake the replicas waiting for this poll.
            if let Ok(refreshed) = &result {
                if refreshed.record.version == version {
                    crate::cluster::events::publish(&cluster, &refreshed.record.task).await;
                }
            }
            result
        }
        turn => after_other_replica(&state, &runtime, &cluster, record, asker, turn).await,
    }
}

/// Another replica polls (or just polled) this task: wait for its result, bounded by the
/// provider's timeout, and serve what the store holds. The watcher gives its claim back.
async fn after_other_replica(
    state: &AppState,
    runtime: &Runtime,
    cluster: &Cluster,
    record: TaskRecord,
    asker: Asker,
    turn: Turn,
) -> Result<Refreshed, StoreFailure> {
    let id = record.task.id.clone();
    let refresh_after = to_chrono(runtime.config.tasks.refresh_after);
    // `None`: the other replica's poll never reported within the bound (it may have died
    // holding the turn), so nothing was polled and the answer is marked stale.
    let polled_at = match turn {
        Turn::Done { fresh_for } => {
            Some(Utc::now() - (refresh_after - to_chrono(fresh_for).min(refresh_after)))
        }
        _ => {
            let mut events = state.events.subscribe(&id);
            let bound = runtime
                .config
                .providers
                .get(record.task.provider.as_deref().unwrap_or_default())
                .map_or(std::time::Duration::from_secs(5), |p| p.settings.timeout);
            let deadline = tokio::time::Instant::now() + bound;
            // The poll's event may have gone out before we subscribed: look at the lock
            // now and then, and stop waiting once it is no longer pending.
            let mut reported = false;
            while !reported {
                if !cluster.poll_lock.pending(cluster, &id).await {
                    reported = true;
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                let slice = deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .min(std::time::Duration::from_millis(100));
                if let Ok(changed) = tokio::time::timeout(slice, events.receiver.changed()).await {
                    reported = changed.is_ok();
                }
            }
            reported.then(Utc::now)
        }
    };
    let stale = polled_at.is_none().then_some(Stale::ProviderError);
    let latest = match state.store.get(&record.tenant, &id).await {
        Ok(Some(latest)) => latest,
        Ok(None) => return Err(StoreFailure("task vanished during refresh".into())),
        Err(e) => return Err(StoreFailure(e.to_string())),
    };
    if let Some(polled_at) = polled_at {
        note_polled(state, &id, polled_at, refresh_after);
    }
    let ours = latest.lease_owner.as_deref() == Some(state.replica_id.as_str());
    if asker == Asker::Read || latest.task.is_terminal() || !ours {
        return Ok(Refreshed {
            record: latest,
            stale,
        });
    }
    let mut next = latest.clone();
    next.next_check_at =
        Some(Utc::now() + jittered(to_chrono(super::refresh::watch_interval(runtime, &next))));
    store(state, &latest, next, stale).await
}
