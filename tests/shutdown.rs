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

/// Starts a create that the simulator holds until [`SimServer::release_holds`], and
/// returns once the simulator shows it held (the create is upstream, in flight).
async fn held_create(
    sim: &SimServer,
    gateway: &Process,
) -> tokio::task::JoinHandle<reqwest::Result<u16>> {
    sim.push_fault(FaultRule::on(Provider::Makevid, Op::Create, FaultKind::Hold).times(1));
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
    let started = Instant::now();
    while sim.held() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the create never reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
    let call = held_create(&sim, &gateway).await;
    gateway.signal("TERM");

    // No new connections, while the one in flight goes on.
    let started = Instant::now();
    while !refused(&gateway.base).await {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still accepting"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !call.is_finished(),
        "the held call ended before its release"
    );
    assert_eq!(sim.held(), 1, "the gateway dropped the call in flight");
    assert!(!gateway.has_exited(), "exited with a call in flight");
    assert_eq!(sim.release_holds(), 1);

    let status = call.await.unwrap().expect("the in-flight call was cut");
    assert_eq!(status, 202);
    let exit = gateway.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(exit.code(), Some(0), "{}", gateway.stderr());
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
    // Held until after the exit: only the grace can end the drain.
    let call = held_create(&sim, &gateway).await;
    let signalled = Instant::now();
    gateway.signal("TERM");
    let exit = gateway.wait_exit(Duration::from_secs(10)).await;
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
    sim.release_holds();
    let _ = std::fs::remove_dir_all(&dir);
}
