//! Single-flight: concurrent callers with the same key share one run of the work.
//!
//! The work runs in its own tokio task, so it completes (and its result is stored) even
//! when every caller has gone away.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::{BoxFuture, FutureExt, Shared};

type Flight<T> = Shared<BoxFuture<'static, Option<T>>>;

pub struct SingleFlight<T: Clone + Send + Sync + 'static> {
    inflight: Arc<Mutex<HashMap<String, Flight<T>>>>,
}

impl<T: Clone + Send + Sync + 'static> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Runs `work` unless a run for `key` is in flight, in which case it waits for that
    /// one. `None` only if the work panicked.
    pub async fn run<F>(&self, key: &str, work: F) -> Option<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let flight = {
            let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            match inflight.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    let registry = self.inflight.clone();
                    let owned_key = key.to_string();
                    // The lock is held until the flight is registered, so the task's
                    // removal below cannot run before the insert.
                    let handle = tokio::spawn(async move {
                        let value = work.await;
                        registry
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&owned_key);
                        value
                    });
                    let flight = async move { handle.await.ok() }.boxed().shared();
                    inflight.insert(key.to_string(), flight.clone());
                    flight
                }
            }
        };
        flight.await
    }

    /// How many keys are in flight (for tests and metrics).
    pub fn in_flight(&self) -> usize {
        self.inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_run() {
        let flights = Arc::new(SingleFlight::<usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut waiters = Vec::new();
        for _ in 0..50 {
            let flights = flights.clone();
            let runs = runs.clone();
            waiters.push(tokio::spawn(async move {
                flights
                    .run("task_1", async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 1
                    })
                    .await
            }));
        }
        for w in waiters {
            assert_eq!(w.await.unwrap(), Some(1));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0);
        let again = flights.run("task_1", async { 7 }).await;
        assert_eq!(again, Some(7));
    }
}
