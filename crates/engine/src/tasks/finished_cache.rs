//! Finished tasks never change, so their JSON is kept ready: a read of a finished task
//! costs a hash lookup, no store query and no serialization. Bounded (LRU). A task with
//! stored outputs carries URLs that expire: its JSON is kept only as long as the caller
//! says it stays good.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use bytes::Bytes;
use lru::LruCache;
use taskgate_core::Task;

/// About 600 bytes a task: a few MiB at most.
const CAPACITY: usize = 8_192;

/// A task's JSON, and until when it may be handed out (`None`: for good).
type Entry = (Bytes, Option<DateTime<Utc>>);

pub struct FinishedCache {
    entries: Mutex<LruCache<(String, String), Entry>>,
}

impl Default for FinishedCache {
    fn default() -> Self {
        FinishedCache {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

impl FinishedCache {
    /// The JSON of the tenant's finished task, if cached.
    pub fn get(&self, tenant: &str, id: &str) -> Option<Bytes> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Borrowed lookup would need a custom key type; the clone is two short strings.
        let key = (tenant.to_string(), id.to_string());
        match entries.get(&key) {
            Some((_, Some(until))) if *until <= Utc::now() => {
                entries.pop(&key);
                None
            }
            found => found.map(|(json, _)| json.clone()),
        }
    }

    /// Serializes the task and, if it is finished, keeps its JSON (until `valid_until`,
    /// when given).
    pub fn json(&self, tenant: &str, task: &Task, valid_until: Option<DateTime<Utc>>) -> Bytes {
        let bytes = Bytes::from(serde_json::to_vec(task).unwrap_or_default());
        if task.is_terminal() {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.put(
                (tenant.to_string(), task.id.clone()),
                (bytes.clone(), valid_until),
            );
        }
        bytes
    }
}
