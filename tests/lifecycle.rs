//! The task lifecycle: long-poll, SSE, the watcher, and signed webhooks with retries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use common::*;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use taskgate_store::TaskRecord;

pub const WEBHOOK_SECRET: &str = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg=";

pub const LIFE: &str = r#"
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0}
store: ${STORE}
tasks: {refresh_after: 150ms, not_found_grace: 5s, watch_every: 300ms, give_up_after: 1h}
webhooks: {timeout: 2s, retry_base: 300ms, retry_max: 1s, give_up_after: 1h}
providers:
  makevid: {type: makevid, base_url: "${SIM}", api_key: k-makevid, retries: 0}
  metered:
    type: makevid
    base_url: "${SIM}"
    api_key: k-metered
    retries: 0
    rate_limit: {per_second: 100, burst: 20}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    webhook_secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg="
    allowed_callback_hosts: ["127.0.0.1"]
    routes:
      text_to_video: [makevid]
      image_to_video: [metered]
  beta:
    keys: ["${KEY_B_HASH}"]
    routes:
      text_to_video: [makevid]
"#;

/// Verifies a Standard Webhooks signature, written from the specification and independent
/// of the gateway's signer.
fn verify(headers: &HeaderMap, body: &[u8]) -> bool {
    let id = headers["webhook-id"].to_str().unwrap();
    let ts = headers["webhook-timestamp"].to_str().unwrap();
    let ts_num: i64 = ts.parse().unwrap();
    if (Utc::now().timestamp() - ts_num).abs() > 300 {
        return false;
    }
    let key = STANDARD.decode(&WEBHOOK_SECRET["whsec_".len()..]).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    headers["webhook-signature"]
        .to_str()
        .unwrap()
        .split(' ')
        .any(|sig| sig.strip_prefix("v1,") == Some(expected.as_str()))
}

#[derive(Clone, Default)]
struct Receiver {
    /// (webhook-id, signature valid, body)
    got: Arc<Mutex<Vec<(String, bool, Value)>>>,
    /// Answers, in order; 200 once they run out.
    answers: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(answers: Vec<u16>) -> (Receiver, String) {
        let receiver = Receiver {
            got: Arc::default(),
            answers: Arc::new(Mutex::new(answers)),
        };
        let r = receiver.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let r = r.clone();
                async move {
                    let valid = verify(&headers, &body);
                    let id = headers["webhook-id"].to_str().unwrap().to_string();
                    r.got
                        .lock()
                        .unwrap()
                        .push((id, valid, serde_json::from_slice(&body).unwrap()));
                    let mut answers = r.answers.lock().unwrap();
                    let code = if answers.is_empty() {
                        200
                    } else {
                        answers.remove(0)
                    };
                    StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn got(&self) -> Vec<(String, bool, Value)> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, limit: Duration) -> Vec<(String, bool, Value)> {
        let start = Instant::now();
        while self.got().len() < n {
            assert!(
                start.elapsed() < limit,
                "only {} deliveries: {:?}",
                self.got().len(),
                self.got()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got()
    }
}

async fn harness() -> Harness {
    Harness::start_with(LIFE, "{kind: memory}").await
}

#[tokio::test]
async fn long_poll_returns_within_a_second_of_the_tasks_end() {
    let h = harness().await;
    // Before the create: the simulator's clock for the task starts after this one.
    let created = Instant::now();
    let task = h
        .create(json!({"type": "text_to_video", "input": {"prompt": "fox", "extra": {"sim": {"queued_ms": 500, "run_ms": 1000}}}}))
        .await;
    let res = h
        .get(
            KEY_A,
            &format!("/v1/tasks/{}?wait=30", task["id"].as_str().unwrap()),
        )
        .await;
    let elapsed = created.elapsed();
    assert_eq!(res.status(), 200);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["status"], "succeeded");
    // The task ends 1.5 s after its create (which the clock includes).
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_millis(2500),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn long_poll_answers_after_wait_with_the_current_state_and_rejects_bad_waits() {
    let h = harness().await;
    let task = h
        .create(json!({"type": "text_to_video", "input": {"prompt": "fox", "extra": {"sim": {"queued_ms": 60000}}}}))
        .await;
    let id = task["id"].as_str().unwrap();
    let started = Instant::now();
    let res: Value = h
        .get(KEY_A, &format!("/v1/tasks/{id}?wait=1"))
        .await
        .json()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(res["status"], "queued");
    assert!(
        elapsed >= Duration::from_millis(950) && elapsed < Duration::from_millis(1800),
        "{elapsed:?}"
    );
    for bad in ["61", "-1", "soon"] {
        expect_error(
            h.get(KEY_A, &format!("/v1/tasks/{id}?wait={bad}")).await,
            400,
            "invalid_request",
        )
        .await;
    }
}

/// The `task` events of one SSE block.
fn task_event(block: &str) -> Option<Value> {
    if !block.contains("event: task") {
        return None;
    }
    let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
    Some(serde_json::from_str(data).unwrap())
}

/// Reads the task's event stream until it closes (at most 15 s). `on_event` sees each
/// event as it comes, with all events so far.
async fn sse_events(h: &Harness, id: &str, mut on_event: impl FnMut(&[Value])) -> Vec<Value> {
    let res = h.get(KEY_A, &format!("/v1/tasks/{id}/events")).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut text = String::new();
    let mut events = Vec::new();
    let mut stream = res.bytes_stream();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            if let Some(event) = task_event(&block) {
                events.push(event);
                on_event(&events);
            }
        }
    }
    events
}

fn distinct_progress(events: &[Value]) -> usize {
    let per_mille: std::collections::BTreeSet<u64> = events
        .iter()
        .filter_map(|e| e["progress"].as_f64())
        .map(|p| (p * 1000.0) as u64)
        .collect();
    per_mille.len()
}

#[tokio::test]
async fn sse_delivers_increasing_progress_and_closes_after_the_end() {
    let h = harness().await;
    // Runs for a minute (1 % every 600 ms) unless ended: the test ends it once the stream
    // has shown three distinct progress values.
    let task = h
        .create(json!({"type": "text_to_video", "input": {"prompt": "fox", "extra": {"sim": {"queued_ms": 300, "run_ms": 60000}}}}))
        .await;
    let id = task["id"].as_str().unwrap();
    let ptid = task["provider_task_id"].as_str().unwrap().to_string();
    let mut ended = false;
    let events = sse_events(&h, id, |events| {
        if !ended && distinct_progress(events) >= 3 {
            ended = h.sim.finish(&ptid, taskgate_sim::Outcome::Succeed);
        }
    })
    .await;
    assert!(ended, "never three distinct progress values: {events:?}");
    assert!(events.len() >= 3, "{events:?}");
    assert_eq!(events.last().unwrap()["status"], "succeeded");
    let progress: Vec<f64> = events
        .iter()
        .filter_map(|e| e["progress"].as_f64())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(distinct_progress(&events) >= 3, "{progress:?}");
    // A finished task: one event, then the stream closes.
    let again = sse_events(&h, id, |_| {}).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["status"], "succeeded");
}

#[tokio::test]
async fn the_watcher_drives_a_task_nobody_reads_to_its_end() {
    let h = harness().await;
    let task = h.create(text_to_video()).await;
    let start = Instant::now();
    loop {
        // Listing serves the store only; it never refreshes.
        let list: Value = h
            .get(KEY_A, "/v1/tasks?status=succeeded")
            .await
            .json()
            .await
            .unwrap();
        if list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == task["id"])
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the watcher never finished the task"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_signed_webhook_is_retried_with_the_same_id_after_a_500() {
    let h = harness().await;
    let (receiver, url) = Receiver::start(vec![500]).await;
    let task = h
        .create(json!({"type": "text_to_video", "input": {"prompt": "fox"}, "callback_url": url}))
        .await;
    let got = receiver.wait_for(2, Duration::from_secs(15)).await;
    let (first_id, first_valid, first_body) = &got[0];
    let (second_id, second_valid, second_body) = &got[1];
    assert!(*first_valid && *second_valid, "signatures must verify");
    assert_eq!(first_id, second_id, "webhook-id is stable across retries");
    assert_eq!(first_body, second_body);
    assert_eq!(second_body["type"], "task.succeeded");
    assert_eq!(second_body["data"]["id"], task["id"]);
    assert_eq!(second_body["data"]["status"], "succeeded");
    // Once the outbox has counted the delivery, it sends that webhook no more.
    let delivered = || {
        h.gateway
            .state
            .webhook_attempts
            .delivered
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let start = Instant::now();
    while delivered() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the 200 was never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(delivered(), 1);
    assert_eq!(
        receiver.got().len(),
        2,
        "delivered once the receiver said 200"
    );
}

#[tokio::test]
async fn callback_urls_outside_the_allowed_hosts_or_without_a_secret_are_refused() {
    let h = harness().await;
    let res = h
        .post(KEY_A, "/v1/tasks", &json!({"type": "text_to_video", "input": {"prompt": "x"}, "callback_url": "http://169.254.169.254/latest"}))
        .await;
    expect_error(res, 400, "invalid_request").await;
    let res = h
        .post(KEY_B, "/v1/tasks", &json!({"type": "text_to_video", "input": {"prompt": "x"}, "callback_url": "https://hooks.example/x"}))
        .await;
    expect_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_thousand_unfinished_tasks_are_watched_within_the_providers_rate_limit() {
    let h = harness().await;
    let http = reqwest::Client::new();
    let now = Utc::now();
    for i in 0..1000 {
        // Created at the simulator directly, then handed to the gateway's store, as if
        // accepted earlier.
        let created: Value = http
            .post(format!("{}/api/v1/create_runway", h.sim.base_url()))
            .bearer_auth("k-metered")
            .json(&json!({"seconds": 5, "text_prompt": format!("fox {i}"), "sim": {"queued_ms": 600000}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ptid = created["task"]["id"].as_str().unwrap().to_string();
        let task = taskgate_core::Task::accepted(
            format!("task_watch_{i:04}"),
            taskgate_core::TaskType::ImageToVideo,
            "metered".into(),
            ptid,
            serde_json::Map::new(),
            now,
        );
        let mut record = TaskRecord::new("acme".into(), task, None);
        record.next_check_at = Some(now);
        h.gateway.state.store.insert(&record).await.unwrap();
    }
    // The window is what passed between the two counts, however long the sleep took.
    let started = Instant::now();
    let before = h.sim.stats().polls["makevid"];
    tokio::time::sleep(Duration::from_secs(3)).await;
    let polls = h.sim.stats().polls["makevid"] - before;
    let window = started.elapsed();
    // 100 per second with a burst of 20.
    let allowed = (100.0 * window.as_secs_f64()) as u64 + 20;
    eprintln!("1000 watched tasks: {polls} polls in {window:?} (budget allows {allowed})");
    assert!(
        polls <= allowed + 10,
        "{polls} polls in {window:?}, limit allows {allowed}"
    );
    assert!(
        polls >= 200,
        "the watcher should use the budget: only {polls} polls"
    );
}

const CALLBACKS: &str = r#"
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0, public_url: "https://gateway.internal:8443/"}
store: ${STORE}
tasks: {refresh_after: 1h, not_found_grace: 5s, watch_every: 1h, give_up_after: 2h}
providers:
  comet-compat: {type: cometapi_compat, base_url: "${SIM}", api_key: k-compat, retries: 0}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    routes: {character_performance: [comet-compat]}
"#;

#[tokio::test]
async fn a_provider_callback_with_the_right_token_triggers_a_repoll_and_a_wrong_one_is_404() {
    let h = Harness::start_with(CALLBACKS, "{kind: memory}").await;
    let task = h
        .create(json!({"type": "character_performance", "input": {"character_url": "https://i.example/a.png", "reference_video_url": "https://v.example/b.mp4"}}))
        .await;
    let ptid = task["provider_task_id"].as_str().unwrap();
    let sent = h.sim.task(ptid).unwrap().body["callback_url"]
        .as_str()
        .unwrap()
        .to_string();
    let prefix = format!(
        "https://gateway.internal:8443/callbacks/acme/{}/",
        task["id"].as_str().unwrap()
    );
    assert!(sent.starts_with(&prefix), "{sent}");
    let path = sent.trim_start_matches("https://gateway.internal:8443");
    // Neither reads (refresh_after 1h) nor the watcher (1h) poll: only the callback does.
    assert_eq!(h.sim.task(ptid).unwrap().polls, 0);
    let res = h
        .http
        .post(h.url(path))
        .body("{\"status\":\"3\",\"anything\":true}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let start = Instant::now();
    while h.sim.task(ptid).unwrap().polls == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no re-poll after the callback"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let forged = format!("{prefix}{}", "0".repeat(64)).replace("https://gateway.internal:8443", "");
    expect_error(
        h.http.post(h.url(&forged)).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
}
