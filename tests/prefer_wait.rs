//! `Prefer: wait=N` on creates (RFC 7240) against the real binary and the simulator: the
//! answer waits for the task's end (or N seconds), and nothing else about the create changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::process::{temp_dir, Gateway};
use common::{fast_script, CONFIG, KEY_A};
use serde_json::{json, Value};
use taskgate_config::{format_key_hash, hash_key};
use taskgate_sim::SimServer;

/// `taskgate serve` as a child process, and the simulator it talks to.
struct Bin {
    sim: SimServer,
    gateway: Gateway,
    http: reqwest::Client,
}

impl Bin {
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.gateway.base))
            .bearer_auth(KEY_A)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

async fn start() -> Bin {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(fast_script());
    let dir = temp_dir("prefer-wait");
    let config = dir.join("taskgate.yaml");
    // The watcher looks every 200 ms, so an end is seen soon after it happens.
    let text = CONFIG
        .replace("watch_every: 1s", "watch_every: 200ms")
        .replace("${STORE}", "{kind: memory}")
        .replace("${SIM}", &sim.base_url())
        .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A)))
        .replace("${KEY_B_HASH}", &format_key_hash(&hash_key(common::KEY_B)));
    std::fs::write(&config, text).unwrap();
    let gateway = Gateway::start(&config, &[], "info").await;
    Bin {
        sim,
        gateway,
        http: reqwest::Client::new(),
    }
}

/// A makevid task that takes `run_ms` after `queued_ms` at the simulator.
fn sim_task(queued_ms: u64, run_ms: u64) -> Value {
    json!({"type": "text_to_video",
           "input": {"prompt": "a fox", "extra": {"sim": {"queued_ms": queued_ms, "run_ms": run_ms}}}})
}

async fn create_waiting(
    h: &Bin,
    body: &Value,
    prefer: &str,
    key: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value, Duration) {
    let started = Instant::now();
    let mut request = h
        .http
        .post(format!("{}/v1/tasks", h.gateway.base))
        .bearer_auth(KEY_A)
        .header("Prefer", prefer)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let res = request.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let json: Value = res.json().await.unwrap();
    (status, headers, json, started.elapsed())
}

#[tokio::test]
async fn a_quick_task_answers_200_finished_within_the_wait() {
    let h = start().await;
    let (status, headers, task, took) =
        create_waiting(&h, &sim_task(300, 1300), "wait=10", None).await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(task["outputs"][0]["url"].is_string(), "{task}");
    assert_eq!(headers["preference-applied"], "wait=10");
    assert_eq!(
        headers["location"].to_str().unwrap(),
        format!("/v1/tasks/{}", task["id"].as_str().unwrap())
    );
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(8),
        "answered after {took:?}"
    );
    println!("Prefer: wait=10 on a 1.6 s task answered 200 after {took:?}");
}

#[tokio::test]
async fn a_long_task_answers_202_with_its_state_when_the_wait_ends() {
    let h = start().await;
    let (status, headers, task, took) =
        create_waiting(&h, &sim_task(500, 7500), "wait=1", None).await;
    assert_eq!(status, 202, "{task}");
    assert!(
        matches!(task["status"].as_str(), Some("queued" | "running")),
        "{task}"
    );
    assert_eq!(headers["preference-applied"], "wait=1");
    assert!(headers.contains_key("location"));
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(5),
        "answered after {took:?}"
    );
    // Without the header, nothing waits and nothing is applied.
    let res = h.post("/v1/tasks", &sim_task(500, 7500)).await;
    assert_eq!(res.status(), 202);
    assert!(!res.headers().contains_key("preference-applied"));
}

#[tokio::test]
async fn the_same_key_twice_with_a_wait_is_one_task_and_one_upstream_create() {
    let h = start().await;
    let body = sim_task(300, 1300);
    let (a, b) = tokio::join!(
        create_waiting(&h, &body, "wait=10", Some("prefer-once")),
        create_waiting(&h, &body, "respond-async, wait=10", Some("prefer-once")),
    );
    let ok = [a.0, b.0];
    // The second may find the first still in progress (409), as without the header.
    assert!(ok.contains(&200), "{ok:?}: {} {}", a.2, b.2);
    let ids: Vec<_> = [&a, &b]
        .iter()
        .filter(|r| r.0 == 200)
        .map(|r| r.2["id"].clone())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    // Once it exists, the key answers the same task, finished, at once.
    let (status, _, again, _) = create_waiting(&h, &body, "wait=10", Some("prefer-once")).await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], ids[0]);
    assert_eq!(h.sim.stats().creates_total(), 1, "one upstream create");
}
