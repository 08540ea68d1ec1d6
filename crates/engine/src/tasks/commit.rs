//! Storing a changed task: compare-and-set, the webhook events the change gives rise to
//! queued in the same transaction, and its waiters told.

use chrono::{DateTime, Utc};
use serde_json::json;
use taskgate_core::{Event, TaskStatus};
use taskgate_store::{Delivery, StoreError, TaskRecord};

use crate::state::AppState;
use crate::tasks::refresh::to_chrono;

/// Writes `next` over the stored version `next.version`, whose status was `before`.
/// Returns the new version, or `None` on a lost race. `next.progress_event_at` is moved on
/// when the change queues a `task.started` or `task.progress`.
pub async fn commit(
    state: &AppState,
    before: TaskStatus,
    next: &mut TaskRecord,
) -> Result<Option<i64>, StoreError> {
    let now = Utc::now();
    let runtime = state.runtime.load_full();
    crate::outputs::hold::hold_success(&runtime, before, next, now);
    let finished_now = !before.is_terminal() && next.task.is_terminal();
    let events = match &next.callback_url {
        Some(_) => {
            let every = runtime.config.webhooks.progress_every;
            next.callback_events
                .on_change(before, next.task.status, progress_due(next, now, every))
        }
        None => Vec::new(),
    };
    if events
        .iter()
        .any(|e| matches!(e, Event::Started | Event::Progress))
    {
        next.progress_event_at = Some(now);
    }
    let version = match (&next.callback_url, events.is_empty()) {
        (Some(url), false) => {
            let mut shown = next.task.clone();
            crate::outputs::present::present(state, &runtime, &next.tenant, &mut shown).await;
            let deliveries = deliveries(next, &shown, url, &events, now);
            let version = state
                .store
                .update_with_deliveries(next, &deliveries)
                .await?;
            if version.is_some() {
                for d in &deliveries {
                    tracing::info!(task = %next.task.id, webhook_id = %d.id, event = %d.event, "webhook queued");
                }
                state.outbox_ready.notify_one();
            }
            version
        }
        _ => state.store.update(next).await?,
    };
    if version.is_some() {
        if finished_now {
            freed_slot(state, next);
        }
        state.events.publish(&next.task);
        if let Some(cluster) = &state.cluster {
            crate::cluster::events::publish(cluster, &next.task).await;
        }
    }
    Ok(version)
}

/// Whether a `task.progress` may be queued now: the task changed since the last one (or
/// since it started) and `every` has passed since then.
pub fn progress_due(record: &TaskRecord, now: DateTime<Utc>, every: std::time::Duration) -> bool {
    match record.progress_event_at {
        None => true,
        Some(last) => record.task.updated_at > last && now - last >= to_chrono(every),
    }
}

/// One delivery per event, ordered after every earlier event of the task: the version this
/// change writes, then the event's place in it.
fn deliveries(
    record: &TaskRecord,
    shown: &taskgate_core::Task,
    url: &str,
    events: &[Event],
    now: DateTime<Utc>,
) -> Vec<Delivery> {
    let base = (record.version + 1).saturating_mul(8);
    events
        .iter()
        .zip(0..)
        .map(|(event, place)| Delivery {
            id: format!("msg_{}", ulid::Ulid::new()),
            tenant: record.tenant.clone(),
            task_id: record.task.id.clone(),
            url: url.to_string(),
            body: json!({"type": event.as_str(), "data": shown}).to_string(),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            lease_owner: None,
            lease_until: None,
            event: event.as_str().to_string(),
            seq: base.saturating_add(place),
        })
        .collect()
}

/// A task that held a provider slot just ended: the queue may send the next one, and its
/// time in the slot feeds the queue's estimates.
fn freed_slot(state: &AppState, record: &TaskRecord) {
    let Some(dispatched_at) = record.dispatched_at else {
        return;
    };
    if let Some(provider) = &record.task.provider {
        let held = (Utc::now() - dispatched_at).to_std().unwrap_or_default();
        state.durations.record(provider, held);
    }
    state.queue_ready.notify_one();
}
