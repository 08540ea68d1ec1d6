//! SIGKILL and restart on SQLite: every task that got a 202 is still there and still
//! reaches its terminal state. Runs the real `taskgate` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use taskgate_config::{format_key_hash, hash_key};
use taskgate_sim::{Script, SimServer};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "taskgate-{name}-{}-{}",
        std::process::id(),
        ulid::Ulid::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_config(dir: &Path, sim_url: &str) -> PathBuf {
    write_config_with(dir, sim_url, "")
}

/// The test config, with `makevid_more` appended to makevid's settings.
fn write_config_with(dir: &Path, sim_url: &str, makevid_more: &str) -> PathBuf {
    let makevid = "api_key: provider-key-makevid, timeout: 2s, retries: 0";
    let text = CONFIG
        .replace(makevid, &format!("{makevid}{makevid_more}"))
        .replace(
            "${STORE}",
            &format!(
                "{{kind: sqlite, path: \"{}\"}}",
                dir.join("tasks.db").display()
            ),
        )
        .replace("${SIM}", sim_url)
        .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A)))
        .replace("${KEY_B_HASH}", &format_key_hash(&hash_key(KEY_B)));
    let path = dir.join("taskgate.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `taskgate serve` and returns it with its tenant address, read from the ready log line.
fn start_gateway(config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskgate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && line.contains("taskgate ready") {
                let v: Value = serde_json::from_str(&line).unwrap();
                let _ = tx.send(v["listen"].as_str().unwrap().to_string());
                sent = true;
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("gateway did not become ready");
    (child, format!("http://{addr}"))
}

#[tokio::test]
async fn tasks_accepted_before_sigkill_survive_and_finish_after_restart() {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(Script::timed(200, 1500, 1000));
    let dir = temp_dir("sigkill");
    let config = write_config(&dir, &sim.base_url());
    let http = reqwest::Client::new();

    let (mut child, base) = start_gateway(&config);
    let mut ids = Vec::new();
    for i in 0..10 {
        let res = http
            .post(format!("{base}/v1/tasks"))
            .bearer_auth(KEY_A)
            .json(&json!({"type": "text_to_video", "input": {"prompt": format!("fox {i}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let task: Value = res.json().await.unwrap();
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    // SIGKILL right after the last 202: no shutdown, no flush.
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, base) = start_gateway(&config);
    let started = Instant::now();
    for id in &ids {
        loop {
            let res = http
                .get(format!("{base}/v1/tasks/{id}"))
                .bearer_auth(KEY_A)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "task {id} lost after SIGKILL");
            let task: Value = res.json().await.unwrap();
            if task["status"] == "succeeded" {
                assert!(task["outputs"][0]["url"].is_string());
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "task {id} never finished: {task}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let list: Value = http
        .get(format!("{base}/v1/tasks?limit=100"))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 10);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(sim.stats().creates_total(), 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tasks_queued_at_a_sigkill_are_each_created_upstream_once_after_restart() {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(Script::timed(0, 100, 300));
    let dir = temp_dir("sigkill-queue");
    let config = write_config_with(&dir, &sim.base_url(), ", max_concurrent: 1");
    let http = reqwest::Client::new();

    let (mut child, base) = start_gateway(&config);
    let create = |body: Value| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let res = http
                .post(format!("{base}/v1/tasks"))
                .bearer_auth(KEY_A)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
            res.json::<Value>().await.unwrap()
        }
    };
    // One task holds makevid's only slot until the test ends it; three wait behind it.
    // Pinned: the tenant's route would fall back to comet-compat, which has no limit.
    let blocker = create(
        json!({"type": "text_to_video", "provider": "makevid", "input": {"prompt": "blocker",
        "extra": {"sim": {"queued_ms": 0, "run_ms": 600000}}}}),
    )
    .await;
    let blocker_upstream = blocker["provider_task_id"].as_str().unwrap().to_string();
    let mut ids = vec![blocker["id"].as_str().unwrap().to_string()];
    for i in 0..3 {
        let task = create(json!({"type": "text_to_video", "provider": "makevid",
            "input": {"prompt": format!("fox {i}")}}))
        .await;
        assert_eq!(task["status"], "queued");
        assert!(task["provider"].is_null(), "{task}");
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(sim.stats().creates_total(), 1);

    let (mut child, base) = start_gateway(&config);
    assert!(sim.finish(&blocker_upstream, taskgate_sim::Outcome::Succeed));
    let started = Instant::now();
    for id in &ids {
        loop {
            let res = http
                .get(format!("{base}/v1/tasks/{id}"))
                .bearer_auth(KEY_A)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "task {id} lost after SIGKILL");
            let task: Value = res.json().await.unwrap();
            if task["status"] == "succeeded" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "task {id} never finished: {task}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        sim.stats().creates_total(),
        4,
        "each task created upstream once"
    );
    let records: Vec<_> = sim.tasks().into_iter().map(|(_, t)| t).collect();
    assert_eq!(taskgate_sim::max_unfinished_at_once(&records, None), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_create_in_flight_at_a_sigkill_is_never_sent_again_and_fails_as_outcome_unknown() {
    use taskgate_sim::{FaultKind, FaultRule, Op, Provider};
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(Script::timed(0, 100, 300));
    sim.push_fault(FaultRule::on(Provider::Makevid, Op::Create, FaultKind::Hold).times(1));
    let dir = temp_dir("sigkill-dispatch");
    let config = write_config_with(&dir, &sim.base_url(), ", max_concurrent: 1");
    let http = reqwest::Client::new();

    let (mut child, base) = start_gateway(&config);
    let pending = tokio::spawn({
        let http = http.clone();
        let base = base.clone();
        async move {
            http.post(format!("{base}/v1/tasks"))
                .bearer_auth(KEY_A)
                .header("Idempotency-Key", "in-flight-1")
                .json(&json!({"type": "text_to_video", "provider": "makevid",
                    "input": {"prompt": "in flight"}}))
                .send()
                .await
        }
    });
    // The create is at the provider, unanswered: the gateway dies now.
    eventually(
        Duration::from_secs(10),
        "the create reached the simulator",
        || sim.held() == 1,
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(pending.await.unwrap().is_err(), "the client got no answer");
    sim.release_holds();

    let (mut child, base) = start_gateway(&config);
    let list: Value = http
        .get(format!("{base}/v1/tasks"))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["data"][0]["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let failed = loop {
        let task: Value = http
            .get(format!("{base}/v1/tasks/{id}"))
            .bearer_auth(KEY_A)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if task["status"] == "failed" {
            break task;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{task}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        failed["error"]["code"], "create_outcome_unknown",
        "{failed}"
    );
    assert_eq!(failed["provider"], "makevid");
    // The same key again answers with that task: no second create.
    let again: Value = http
        .post(format!("{base}/v1/tasks"))
        .bearer_auth(KEY_A)
        .header("Idempotency-Key", "in-flight-1")
        .json(&json!({"type": "text_to_video", "provider": "makevid",
            "input": {"prompt": "in flight"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], id.as_str());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(sim.stats().creates_total() <= 1, "never sent twice");
    let _ = std::fs::remove_dir_all(&dir);
}
