//! Many concurrent readers of one unfinished task share one upstream poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn fifty_concurrent_reads_cause_at_most_two_upstream_polls() {
    let h = Harness::start().await;
    let task = h
        .create(json!({"type": "text_to_video", "input": {"prompt": "fox", "extra": {"sim": {"queued_ms": 60000}}}}))
        .await;
    let id = task["id"].as_str().unwrap().to_string();
    let ptid = task["provider_task_id"].as_str().unwrap().to_string();
    // Let the refresh window (150 ms) pass so the next read must poll; the watcher's first
    // look comes only after `watch_every` (1 s).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = h.sim.task(&ptid).unwrap().polls;
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
    let h = Harness::start().await;
    let task = h.create(text_to_video()).await;
    let id = task["id"].as_str().unwrap();
    let ptid = task["provider_task_id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.get(KEY_A, &format!("/v1/tasks/{id}")).await;
    let after_first = h.sim.task(ptid).unwrap().polls;
    for _ in 0..5 {
        h.get(KEY_A, &format!("/v1/tasks/{id}")).await;
    }
    assert_eq!(h.sim.task(ptid).unwrap().polls, after_first);
}
