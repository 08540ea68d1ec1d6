//! Task changes across replicas: each commit is published on `<namespace>:events` with
//! the whole task, and one subscriber per process hands what other replicas publish to
//! the local waiters ([`TaskEvents::publish`]). Messages missed while Redis is away are
//! covered by the waiters' periodic store re-read.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use taskgate_core::Task;
use tokio::sync::watch;

use super::{Cluster, CALL_TIMEOUT};
use crate::lifecycle::events::TaskEvents;

/// Wait before subscribing again after the subscription broke.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
struct Message<T> {
    /// The publishing replica, which has told its own waiters already.
    from: String,
    task: T,
}

fn channel(cluster: &Cluster) -> String {
    cluster.key("events")
}

/// Tells the other replicas about `task`'s new state. Skipped while Redis is down.
pub async fn publish(cluster: &Cluster, task: &Task) {
    if !cluster.health.is_up() {
        return;
    }
    let message = Message {
        from: cluster.replica_id().to_string(),
        task,
    };
    let Ok(payload) = serde_json::to_string(&message) else {
        return;
    };
    let mut connection = cluster.connection();
    let mut command = redis::cmd("PUBLISH");
    command.arg(channel(cluster)).arg(payload);
    let publish = command.query_async::<i64>(&mut connection);
    if let Err(e) = cluster.call("publish", publish).await {
        tracing::debug!(task = %task.id, error = %e, "task event not published");
    }
}

/// The subscriber: hands other replicas' task events to local waiters until `stop`.
pub async fn run(cluster: Arc<Cluster>, events: TaskEvents, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = listen(&cluster, &events) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Subscribes and delivers until the subscription breaks.
async fn listen(cluster: &Cluster, events: &TaskEvents) {
    let connect = cluster.client().get_async_pubsub();
    let mut pubsub = match tokio::time::timeout(CALL_TIMEOUT * 4, connect).await {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "task events: cannot subscribe yet");
            return;
        }
        Err(_) => return,
    };
    let subscribed = tokio::time::timeout(CALL_TIMEOUT * 4, pubsub.subscribe(channel(cluster)));
    if !matches!(subscribed.await, Ok(Ok(()))) {
        return;
    }
    tracing::debug!("task events: subscribed");
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let Ok(payload) = message.get_payload::<String>() else {
            continue;
        };
        match serde_json::from_str::<Message<Task>>(&payload) {
            Ok(m) if m.from != cluster.replica_id() => events.publish(&m.task),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "task events: unreadable message ignored"),
        }
    }
    tracing::debug!("task events: subscription ended");
}
