//! `callback_events` against the real binary and the simulator: which events a receiver
//! gets, in what order, how often progress comes, that every one is signed (checked by
//! the `standardwebhooks` package and by a verifier written from the specification), and
//! that a SIGKILL between two events loses and reorders none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::process::{temp_dir, Gateway};
use common::python::{assert_success, python_or_skip, run_python};
use common::{expect_error, KEY_A};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use taskgate_config::{format_key_hash, hash_key};
use taskgate_sim::SimServer;
use tokio::sync::watch;

const WEBHOOK_SECRET: &str = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg=";

const CONFIG: &str = r#"
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0}
store: {kind: sqlite, path: "${DB}"}
tasks: {refresh_after: 150ms, not_found_grace: 5s, watch_every: 1s, give_up_after: 1h}
webhooks: {timeout: 1s, retry_base: 200ms, retry_max: 400ms, give_up_after: 1h, progress_every: 300ms}
providers:
  makevid: {type: makevid, base_url: "${SIM}", api_key: k-makevid, retries: 0}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    webhook_secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg="
    allowed_callback_hosts: ["127.0.0.1"]
    routes: {text_to_video: [makevid]}
"#;

/// One attempt as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn event(&self) -> String {
        self.json()["type"].as_str().unwrap().to_string()
    }
}

/// Records every attempt; answers 200, except that while `hold` is set it keeps the
/// answer open (the attempt is recorded as it arrives).
#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    hold: Arc<watch::Sender<bool>>,
}

impl Receiver {
    async fn start(hold: bool) -> (Receiver, String) {
        let receiver = Receiver {
            seen: Arc::default(),
            hold: Arc::new(watch::Sender::new(hold)),
        };
        let r = receiver.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let r = r.clone();
                async move {
                    let header = |name: &str| headers[name].to_str().unwrap().to_string();
                    r.seen.lock().unwrap().push(Seen {
                        at: Instant::now(),
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body: String::from_utf8(body.to_vec()).unwrap(),
                    });
                    let mut held = r.hold.subscribe();
                    let _ = held.wait_for(|hold| !*hold).await;
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let start = Instant::now();
        loop {
            let seen = self.seen();
            if done(&seen) {
                return seen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "{what}: only {:?}",
                seen.iter().map(Seen::event).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Verifies a Standard Webhooks signature, written from the specification, independent of
/// the gateway's signer.
fn verify(seen: &Seen) -> bool {
    let key = STANDARD.decode(&WEBHOOK_SECRET["whsec_".len()..]).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", seen.id, seen.timestamp).as_bytes());
    mac.update(seen.body.as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    seen.signature
        .split(' ')
        .any(|sig| sig.strip_prefix("v1,") == Some(expected.as_str()))
}

/// Verifies every attempt with the `standardwebhooks` package (skipped with a notice
/// outside CI when the Python tools are missing).
async fn verify_with_standardwebhooks(dir: &Path, seen: &[Seen]) {
    let Some(python) = python_or_skip() else {
        return;
    };
    let messages: Vec<Value> = seen
        .iter()
        .map(|s| {
            json!({"headers": {"webhook-id": s.id, "webhook-timestamp": s.timestamp,
                               "webhook-signature": s.signature}, "body": s.body})
        })
        .collect();
    std::fs::write(dir.join("messages.json"), Value::from(messages).to_string()).unwrap();
    let script = r#"
import json, sys
from standardwebhooks import Webhook
hook = Webhook(sys.argv[1])
messages = json.load(open("messages.json"))
for m in messages:
    hook.verify(m["body"], m["headers"])
print(f"verified {len(messages)}")
"#;
    std::fs::write(dir.join("verify.py"), script).unwrap();
    let out = run_python(
        &python,
        &["verify.py", WEBHOOK_SECRET],
        dir,
        &[],
        Duration::from_secs(60),
    )
    .await;
    assert_success("standardwebhooks verification", &out);
    println!("{}", String::from_utf8_lossy(&out.stdout).trim());
}

struct Setup {
    sim: SimServer,
    dir: std::path::PathBuf,
    config: std::path::PathBuf,
    http: reqwest::Client,
}

async fn setup(name: &str) -> Setup {
    let sim = SimServer::start().await.unwrap();
    let dir = temp_dir(name);
    let config = dir.join("taskgate.yaml");
    std::fs::write(
        &config,
        CONFIG
            .replace("${DB}", &dir.join("tasks.db").display().to_string())
            .replace("${SIM}", &sim.base_url())
            .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A))),
    )
    .unwrap();
    Setup {
        sim,
        dir,
        config,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn create(&self, gateway: &Gateway, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/tasks", gateway.base))
            .bearer_auth(KEY_A)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn task(&self, gateway: &Gateway, id: &str) -> Value {
        self.http
            .get(format!("{}/v1/tasks/{id}", gateway.base))
            .bearer_auth(KEY_A)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A makevid task that runs `run_ms` after `queued_ms` at the simulator, progress rising
/// linearly.
fn sim_task(queued_ms: u64, run_ms: u64, callback: &str, events: &[&str]) -> Value {
    json!({"type": "text_to_video",
           "input": {"prompt": "a fox", "extra": {"sim": {"queued_ms": queued_ms, "run_ms": run_ms}}},
           "callback_url": callback, "callback_events": events})
}

#[tokio::test]
async fn started_then_throttled_rising_progress_then_succeeded_once_and_last() {
    let s = setup("events-order").await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    let (receiver, url) = Receiver::start(false).await;
    let res = s
        .create(
            &gateway,
            sim_task(
                300,
                8000,
                &url,
                &["task.started", "task.progress", "task.succeeded"],
            ),
        )
        .await;
    assert_eq!(res.status(), 202);
    let task: Value = res.json().await.unwrap();
    let id = task["id"].as_str().unwrap().to_string();
    let seen = receiver
        .wait_for("task.succeeded", |seen| {
            seen.iter().any(|s| s.event() == "task.succeeded")
        })
        .await;
    let events: Vec<String> = seen.iter().map(Seen::event).collect();
    assert_eq!(events.first().map(String::as_str), Some("task.started"));
    assert_eq!(events.last().map(String::as_str), Some("task.succeeded"));
    assert_eq!(
        events.iter().filter(|e| *e == "task.succeeded").count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "task.started").count(),
        1,
        "{events:?}"
    );
    let progress: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.event() == "task.progress")
        .collect();
    assert!(progress.len() >= 3, "{events:?}");
    let values: Vec<f64> = progress
        .iter()
        .map(|s| s.json()["data"]["progress"].as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "progress must rise: {values:?}"
    );
    let gaps: Vec<Duration> = progress
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect();
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(300)),
        "progress events closer than progress_every: {gaps:?}"
    );
    for s in &seen {
        assert_eq!(s.json()["data"]["id"], id.as_str());
        assert!(verify(s), "signature of {} does not verify", s.id);
    }
    let ids: std::collections::BTreeSet<&str> = seen.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), seen.len(), "every event has its own webhook-id");
    let data_last = seen.last().unwrap().json();
    assert_eq!(data_last["data"]["status"], "succeeded");
    verify_with_standardwebhooks(&s.dir, &seen).await;
    println!(
        "{} events: 1 started, {} progress (values {values:?}, gaps {gaps:?}), 1 succeeded",
        seen.len(),
        progress.len()
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn an_event_the_client_did_not_choose_is_never_sent() {
    let s = setup("events-filter").await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    let (receiver, url) = Receiver::start(false).await;
    let res = s
        .create(&gateway, sim_task(100, 300, &url, &["task.failed"]))
        .await;
    let quiet: Value = res.json().await.unwrap();
    let quiet_id = quiet["id"].as_str().unwrap().to_string();
    // The same receiver's default events for a second task, created after the first one
    // succeeded: a task's events are queued in the transaction that stores its change, so
    // once the first reads `succeeded`, anything it gave rise to is queued too.
    let start = Instant::now();
    while s.task(&gateway, &quiet_id).await["status"] != "succeeded" {
        assert!(start.elapsed() < Duration::from_secs(20), "never succeeded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = s
        .create(
            &gateway,
            json!({"type": "text_to_video", "input": {"prompt": "x"}, "callback_url": url}),
        )
        .await;
    let loud: Value = res.json().await.unwrap();
    let loud_id = loud["id"].as_str().unwrap().to_string();
    receiver
        .wait_for("the second task's task.succeeded", |seen| !seen.is_empty())
        .await;
    // A task's events are queued in the transaction that stores its change: the store
    // says what was ever queued for each, sent or not.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}?mode=ro",
        s.dir.join("tasks.db").display()
    ))
    .await
    .unwrap();
    let queued = |task: String| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT event FROM deliveries WHERE task_id = $1")
                .bind(task)
                .fetch_all(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(queued(quiet_id.clone()).await, Vec::<String>::new());
    assert_eq!(queued(loud_id.clone()).await, ["task.succeeded"]);
    let bodies: Vec<Value> = receiver.seen().iter().map(Seen::json).collect();
    assert!(
        bodies.iter().all(|b| b["data"]["id"] == loud_id.as_str()),
        "a task.failed-only callback got {bodies:?}"
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn bad_callback_events_are_400() {
    let s = setup("events-bad").await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    let url = "http://127.0.0.1:9/hooks";
    let base = json!({"type": "text_to_video", "input": {"prompt": "x"}});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for (body, needle) in [
        (
            with(json!({"callback_url": url, "callback_events": ["task.done"]})),
            "unknown event",
        ),
        (
            with(json!({"callback_url": url, "callback_events": []})),
            "at least one",
        ),
        (
            with(json!({"callback_events": ["task.succeeded"]})),
            "callback_url",
        ),
        (
            with(json!({"callback_url": url, "callback_events": "task.succeeded"})),
            "callback_events",
        ),
    ] {
        let res = s.create(&gateway, body.clone()).await;
        let error = expect_error(res, 400, "invalid_request").await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    // null is the default.
    let res = s
        .create(
            &gateway,
            with(json!({"callback_url": url, "callback_events": null})),
        )
        .await;
    assert_eq!(res.status(), 202);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn a_sigkill_between_two_events_loses_none_and_reorders_none() {
    let s = setup("events-sigkill").await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    // The receiver takes the first event and does not answer: the gateway is killed with
    // task.started in flight and task.succeeded queued behind it.
    let (receiver, url) = Receiver::start(true).await;
    let res = s
        .create(
            &gateway,
            sim_task(200, 400, &url, &["task.started", "task.succeeded"]),
        )
        .await;
    let task: Value = res.json().await.unwrap();
    let id = task["id"].as_str().unwrap().to_string();
    receiver
        .wait_for("task.started in flight", |seen| !seen.is_empty())
        .await;
    let start = Instant::now();
    while s.task(&gateway, &id).await["status"] != "succeeded" {
        assert!(start.elapsed() < Duration::from_secs(20), "never succeeded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // (An attempt that timed out is retried: task.started may have come more than once.)
    assert!(
        receiver.seen().iter().all(|s| s.event() == "task.started"),
        "task.succeeded went out while task.started was unanswered"
    );
    let pid = gateway.pid();
    drop(gateway);
    println!("SIGKILLed gateway {pid} with task.started unanswered");
    receiver.hold.send_replace(false);

    let _gateway = Gateway::start(&s.config, &[], "info").await;
    let seen = receiver
        .wait_for("task.succeeded after the restart", |seen| {
            seen.iter().any(|s| s.event() == "task.succeeded")
        })
        .await;
    let events: Vec<String> = seen.iter().map(Seen::event).collect();
    let first_succeeded = events.iter().position(|e| e == "task.succeeded").unwrap();
    assert!(
        events[..first_succeeded]
            .iter()
            .all(|e| e == "task.started"),
        "{events:?}"
    );
    assert!(first_succeeded >= 1, "{events:?}");
    let started_ids: std::collections::BTreeSet<&str> = seen
        .iter()
        .filter(|s| s.event() == "task.started")
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(started_ids.len(), 1, "one task.started, retried: {seen:?}");
    assert!(seen.iter().all(verify));
    println!("after the restart the receiver saw {events:?}");
    let _ = std::fs::remove_dir_all(&s.dir);
    drop(s.sim);
}
