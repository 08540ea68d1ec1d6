//! SIGTERM: the gateway stops accepting, answers what is in flight (within
//! `server.shutdown_grace`), closes its store and exits 0. Runs the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::process::{temp_dir, write_atomically, Gateway as Process};
use common::*;
use taskgate_config::{format_key_hash, hash_key};
use taskgate_sim::{FaultKind, FaultRule, Op, Provider, SimServer};

/// The test config on SQLite with `grace` and makevid's timeout at 10 s.
fn config(dir: &std::path::Path, sim_url: &str, grace: &str) -> std::path::PathBuf {
    let store = format!(
        "{{kind: sqlite, path: \"{}\"}}",
        dir.join("tasks.db").display()
    );
    let text = CONFIG
        .replace(
            "  request_timeout: 10s",
            &format!("  request_timeout: 10s\n  shutdown_grace: {grace}"),
        )
        .replace(
            "api_key: provider-key-makevid, timeout: 2s",
            "api_key: provider-key-makevid, timeout: 10s",
        )
        .replace("${STORE}", &store)
        .replace("${SIM}", sim_url)
        .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A)))
        .replace("${KEY_B_HASH}", &format_key_hash(&hash_key(KEY_B)));
    let path = dir.join("taskgate.yaml");
    write_atomically(&path, &text);
    path
}

/// Starts a create that the simulator holds for `ms`, and returns once it is surely
/// upstream (on loopback, well within the wait).
async fn slow_create(
    sim: &SimServer,
    gateway: &Process,
    ms: u64,
) -> tokio::task::JoinHandle<reqwest::Result<u16>> {
    sim.push_fault(
        FaultRule::on(Provider::Makevid, Op::Create, FaultKind::Latency { ms }).times(1),
    );
    let url = format!("{}/v1/tasks", gateway.base);
    let call = tokio::spawn(async move {
        let res = reqwest::Client::new()
            .post(url)
            .bearer_auth(KEY_A)
            .json(&text_to_video())
            .send()
            .await?;
        Ok(res.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!call.is_finished());
    call
}

/// Whether a new connection to `base` is refused.
async fn refused(base: &str) -> bool {
    let addr = base.trim_start_matches("http://");
    tokio::net::TcpStream::connect(addr).await.is_err()
}

#[tokio::test]
async fn sigterm_during_a_slow_upstream_call_still_answers_it_then_exits_0() {
    let sim = SimServer::start().await.unwrap();
    let dir = temp_dir("sigterm");
    let mut gateway = Process::start(&config(&dir, &sim.base_url(), "10s"), &[], "info").await;
    let call = slow_create(&sim, &gateway, 1500).await;
    let signalled = Instant::now();
    gateway.signal("TERM");

    // No new connections, while the one in flight goes on.
    let started = Instant::now();
    while !refused(&gateway.base).await {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still accepting"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!call.is_finished(), "the slow call ended too early");

    let status = call.await.unwrap().expect("the in-flight call was cut");
    assert_eq!(status, 202);
    let exit = gateway.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(exit.code(), Some(0), "{}", gateway.stderr());
    let took = signalled.elapsed();
    assert!(took >= Duration::from_millis(800), "exited after {took:?}");
    assert!(gateway
        .log()
        .iter()
        .any(|v| v["message"] == "taskgate stopped"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_drain_is_bounded_by_shutdown_grace() {
    let sim = SimServer::start().await.unwrap();
    let dir = temp_dir("grace");
    let mut gateway = Process::start(&config(&dir, &sim.base_url(), "300ms"), &[], "info").await;
    let call = slow_create(&sim, &gateway, 5000).await;
    let signalled = Instant::now();
    gateway.signal("TERM");
    let exit = gateway.wait_exit(Duration::from_secs(4)).await;
    let took = signalled.elapsed();
    assert_eq!(exit.code(), Some(0), "{}", gateway.stderr());
    assert!(took < Duration::from_secs(3), "exited after {took:?}");
    assert!(
        call.await.unwrap().is_err(),
        "a call past the grace is dropped"
    );
    assert!(gateway.log().iter().any(|v| v["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("shutdown grace over")));
    let _ = std::fs::remove_dir_all(&dir);
}
