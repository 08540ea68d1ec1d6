//! Storing a changed task: compare-and-set, the webhook queued in the same transaction when
//! the task just finished, and its waiters told.

use chrono::Utc;
use serde_json::json;
use taskgate_store::{Delivery, StoreError, TaskRecord};

use crate::state::AppState;

/// Writes `next` over the stored version `next.version`. `was_terminal` is whether the
/// stored task was already finished. Returns the new version, or `None` on a lost race.
pub async fn commit(
    state: &AppState,
    was_terminal: bool,
    next: &TaskRecord,
) -> Result<Option<i64>, StoreError> {
    let finished_now = !was_terminal && next.task.is_terminal();
    let version = match (&next.callback_url, finished_now) {
        (Some(url), true) => {
            let delivery = delivery(next, url);
            let version = state.store.update_with_delivery(next, &delivery).await?;
            if version.is_some() {
                tracing::info!(task = %next.task.id, webhook_id = %delivery.id, "webhook queued");
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

fn delivery(record: &TaskRecord, url: &str) -> Delivery {
    let now = Utc::now();
    let body = json!({
        "type": format!("task.{}", record.task.status),
        "data": record.task,
    });
    Delivery {
        id: format!("msg_{}", ulid::Ulid::new()),
        tenant: record.tenant.clone(),
        task_id: record.task.id.clone(),
        url: url.to_string(),
        body: body.to_string(),
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        lease_owner: None,
        lease_until: None,
    }
}
