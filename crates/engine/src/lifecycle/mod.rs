//! What happens to tasks when nobody asks: the watcher refreshes unfinished tasks, the
//! event hub wakes long-polls and SSE streams, the outbox delivers signed webhooks.

pub mod callback_target;
pub mod events;
pub mod signing;
pub mod watcher;
pub mod webhook_http;
pub mod webhooks;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// Starts the background loops; they stop when `stop` turns true.
pub fn spawn(state: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let mut loops = vec![
        tokio::spawn(watcher::run(state.clone(), stop.clone())),
        tokio::spawn(webhooks::run(state.clone(), stop.clone())),
        tokio::spawn(crate::queue::dispatcher::run(state.clone(), stop.clone())),
        tokio::spawn(crate::outputs::retention::run(state.clone(), stop.clone())),
    ];
    if let Some(cluster) = &state.cluster {
        loops.push(tokio::spawn(crate::cluster::heartbeat::run(
            cluster.clone(),
            stop.clone(),
        )));
        loops.push(tokio::spawn(crate::cluster::events::run(
            cluster.clone(),
            state.events.clone(),
            stop,
        )));
    }
    loops
}
