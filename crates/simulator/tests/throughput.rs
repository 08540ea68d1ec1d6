//! Poll throughput over loopback (client and server share the machine). Run with
//! `cargo test -p taskgate-sim --release --test throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{sim, timed};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn polls_per_second_over_loopback() {
    let s = Arc::new(sim(timed(0, 0, 600_000)).await);
    let mut ids = Vec::new();
    for _ in 0..256 {
        ids.push(s.create_runway(Value::Null).await);
    }
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(3);
    let mut workers = Vec::new();
    for w in 0..64 {
        let (s, done, ids) = (Arc::clone(&s), Arc::clone(&done), ids.clone());
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while Instant::now() < until {
                let id = &ids[i % ids.len()];
                let r = s.get(&format!("/v1/tasks/{id}")).await;
                assert_eq!(r.status, 200);
                done.fetch_add(1, Ordering::Relaxed);
                i += 64;
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let n = done.load(Ordering::Relaxed);
    println!("{n} polls in 3 s: {} per second", n / 3);
    assert_eq!(s.server.stats().polls_total(), n);
}
