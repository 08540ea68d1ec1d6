//! A webhook pending when the gateway is SIGKILLed is delivered after the restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use common::*;
use serde_json::{json, Value};
use taskgate_config::{format_key_hash, hash_key};
use taskgate_sim::SimServer;

const CONFIG_TEMPLATE: &str = r#"
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0}
store: {kind: sqlite, path: "${DB}"}
tasks: {refresh_after: 150ms, not_found_grace: 5s, watch_every: 300ms, give_up_after: 1h}
webhooks: {timeout: 2s, retry_base: 400ms, retry_max: 800ms, give_up_after: 1h}
providers:
  makevid: {type: makevid, base_url: "${SIM}", api_key: k-makevid, retries: 0}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    webhook_secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg="
    routes: {text_to_video: [makevid]}
"#;

fn start_gateway(config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskgate"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("taskgate ready") {
                let v: Value = serde_json::from_str(&line).unwrap();
                let _ = tx.send(v["listen"].as_str().unwrap().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("gateway did not become ready");
    (child, format!("http://{addr}"))
}

#[tokio::test]
async fn a_webhook_pending_at_sigkill_is_delivered_after_restart() {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(fast_script());
    // The receiver fails until told otherwise and records every webhook-id it sees.
    let healthy = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let delivered: Arc<Mutex<Vec<String>>> = Arc::default();
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = {
        let (healthy, attempts, delivered, ids) = (
            healthy.clone(),
            attempts.clone(),
            delivered.clone(),
            ids.clone(),
        );
        axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap| {
                let (healthy, attempts, delivered, ids) = (
                    healthy.clone(),
                    attempts.clone(),
                    delivered.clone(),
                    ids.clone(),
                );
                async move {
                    let id = headers["webhook-id"].to_str().unwrap().to_string();
                    attempts.fetch_add(1, Ordering::SeqCst);
                    ids.lock().unwrap().push(id.clone());
                    if healthy.load(Ordering::SeqCst) {
                        delivered.lock().unwrap().push(id);
                        StatusCode::OK
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = std::env::temp_dir().join(format!(
        "taskgate-hook-{}-{}",
        std::process::id(),
        ulid::Ulid::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("taskgate.yaml");
    std::fs::write(
        &config,
        CONFIG_TEMPLATE
            .replace("${DB}", &dir.join("tasks.db").display().to_string())
            .replace("${SIM}", &sim.base_url())
            .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A))),
    )
    .unwrap();

    let (mut child, base) = start_gateway(&config);
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{base}/v1/tasks"))
        .bearer_auth(KEY_A)
        .json(
            &json!({"type": "text_to_video", "input": {"prompt": "fox"}, "callback_url": hook_url}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // Wait for a failed attempt: the delivery is now pending a retry.
    let start = Instant::now();
    while attempts.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no webhook attempt"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    healthy.store(true, Ordering::SeqCst);

    let (mut child, _base) = start_gateway(&config);
    // Killed between an attempt and its record, the delivery stays leased by the dead
    // process for up to 2 × timeout + 5 s = 9 s: the bound leaves room for that.
    let start = Instant::now();
    while delivered.lock().unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the pending webhook was never delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let ids = ids.lock().unwrap().clone();
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "one webhook-id across the restart: {ids:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
