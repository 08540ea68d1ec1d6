//! Many concurrent readers of one unfinished task share one upstream poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// The test config with reads fresh for a second and no watcher: only the test's reads
/// poll, and a read the machine delays by less than a second still finds a poll fresh.
async fn harness() -> Harness {
    let template = CONFIG
        .replace("  refresh_after: 150ms", "  refresh_after: 1s")
        .replace("  watch_every: 1s", "  watch_every: 1h");
    Harness::start_with(&template, "{kind: memory}").await
}

/// A task that stays queued upstream for a minute: a poll changes nothing.
fn queued_for_a_minute() -> Value {
    json!({"type": "text_to_video", "input": {"prompt": "fox", "extra": {"sim": {"queued_ms": 60000}}}})
}

/// Past `refresh_after` since the create: the next read must poll.
async fn let_the_create_go_stale() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn fifty_concurrent_reads_cause_at_most_two_upstream_polls() {
    let h = harness().await;
    let task = h.create(queued_for_a_minute()).await;
    let id = task["id"].as_str().unwrap().to_string();
    let ptid = task["provider_task_id"].as_str().unwrap().to_string();
    let_the_create_go_stale().await;
    let before = h.sim.task(&ptid).unwrap().polls;
    assert_eq!(before, 0, "nothing polled before the reads");
    let path = format!("/v1/tasks/{id}");
    let reads = (0..50).map(|_| h.get(KEY_A, &path));
    let answers = futures::future::join_all(reads).await;
    for res in answers {
        assert_eq!(res.status(), 200);
        let t: Value = res.json().await.unwrap();
        assert_eq!(t["status"], "queued");
    }
    let polls = h.sim.task(&ptid).unwrap().polls - before;
    assert!(
        (1..=2).contains(&polls),
        "50 concurrent reads caused {polls} upstream polls"
    );
}

#[tokio::test]
async fn reads_within_refresh_after_do_not_poll() {
    let h = harness().await;
    let task = h.create(queued_for_a_minute()).await;
    let id = task["id"].as_str().unwrap();
    let ptid = task["provider_task_id"].as_str().unwrap();
    let_the_create_go_stale().await;
    // The first read's poll happens after this: every read below that ends within a
    // second of it falls within refresh_after of that poll.
    let first_read = std::time::Instant::now();
    h.get(KEY_A, &format!("/v1/tasks/{id}")).await;
    let after_first = h.sim.task(ptid).unwrap().polls;
    assert_eq!(after_first, 1, "the first read after refresh_after polls");
    for _ in 0..5 {
        h.get(KEY_A, &format!("/v1/tasks/{id}")).await;
    }
    let reads_took = first_read.elapsed();
    assert!(
        reads_took < Duration::from_secs(1),
        "the reads took {reads_took:?}, past refresh_after: nothing was tested"
    );
    assert_eq!(h.sim.task(ptid).unwrap().polls, after_first);
}
