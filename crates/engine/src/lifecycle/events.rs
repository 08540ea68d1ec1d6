//! The task event hub: one `watch` channel per task that somebody waits on, so a change
//! wakes exactly that task's waiters and costs nothing when nobody waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use taskgate_core::Task;
use tokio::sync::watch;

type Channels = Arc<Mutex<HashMap<String, watch::Sender<Option<Arc<Task>>>>>>;

#[derive(Default, Clone)]
pub struct TaskEvents {
    channels: Channels,
}

/// A waiter's view of one task's changes; removes the channel when the last one goes.
pub struct Subscription {
    id: String,
    pub receiver: watch::Receiver<Option<Arc<Task>>>,
    channels: Channels,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        // Our own receiver is still alive here, so "only us" is a count of one.
        if channels
            .get(&self.id)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            channels.remove(&self.id);
        }
    }
}

impl TaskEvents {
    pub fn subscribe(&self, task_id: &str) -> Subscription {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = match channels.get(task_id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(None);
                channels.insert(task_id.to_string(), tx);
                rx
            }
        };
        Subscription {
            id: task_id.to_string(),
            receiver,
            channels: self.channels.clone(),
        }
    }

    /// Tells the task's waiters about its new state.
    pub fn publish(&self, task: &Task) {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = channels.get(&task.id) {
            tx.send_replace(Some(Arc::new(task.clone())));
        }
    }

    /// Tasks with waiters (tests, metrics).
    pub fn watched(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::Map;
    use taskgate_core::TaskType;

    #[tokio::test]
    async fn waiters_see_changes_and_channels_go_with_them() {
        let hub = TaskEvents::default();
        let task = Task::accepted(
            "t1".into(),
            TaskType::Upscale,
            "p".into(),
            "u".into(),
            Map::new(),
            Utc::now(),
        );
        hub.publish(&task);
        assert_eq!(hub.watched(), 0);
        let mut a = hub.subscribe("t1");
        let b = hub.subscribe("t1");
        hub.publish(&task);
        a.receiver.changed().await.unwrap();
        assert_eq!(
            a.receiver.borrow().as_ref().map(|t| t.id.clone()),
            Some("t1".into())
        );
        drop(a);
        assert_eq!(hub.watched(), 1);
        drop(b);
        assert_eq!(hub.watched(), 0);
    }
}
