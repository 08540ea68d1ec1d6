//! Traffic control against the simulator's fault injection: tenant limits, the unfinished
//! cap, provider budgets, retries honouring Retry-After, timeouts, circuit breaking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use taskgate_sim::{FaultKind, FaultRule, Op, Provider};

const TRAFFIC: &str = r#"
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0}
store: ${STORE}
tasks: {refresh_after: 100ms, not_found_grace: 3s, watch_every: 1h, give_up_after: 1h}
providers:
  makevid: {type: makevid, base_url: "${SIM}", api_key: k-makevid, timeout: 2s, retries: 0}
  patient: {type: makevid, base_url: "${SIM}", api_key: k-patient, timeout: 3s, retries: 2}
  metered:
    type: makevid
    base_url: "${SIM}"
    api_key: k-metered
    retries: 0
    rate_limit: {per_hour: 60, burst: 2}
    limit_wait: 50ms
  comet-compat: {type: cometapi_compat, base_url: "${SIM}", api_key: k-compat, retries: 0}
  fragile:
    type: cometapi_official
    base_url: "${SIM}"
    api_key: k-fragile
    retries: 0
    circuit: {window: 30s, min_calls: 3, error_ratio: 0.5, open_for: 3s}
  runway: {type: runway, base_url: "${SIM}", api_key: k-runway, retries: 0}
  hanging: {type: runway, base_url: "${SIM}", api_key: k-hanging, timeout: 400ms, retries: 2}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    rate_limit: {per_minute: 20, burst: 20}
    max_unfinished_tasks: 5
    routes:
      text_to_video: [makevid]
      image_to_video: [patient]
      upscale: [fragile, runway]
      video_to_video: [fragile]
      character_performance: [hanging]
  beta:
    keys: ["${KEY_B_HASH}"]
    rate_limit: {per_minute: 20, burst: 20}
    routes:
      text_to_video: [metered, comet-compat]
"#;

async fn harness() -> Harness {
    Harness::start_with(TRAFFIC, "{kind: memory}").await
}

#[tokio::test]
async fn a_burst_over_the_tenant_limit_passes_exactly_the_limit_and_the_rest_get_429() {
    let h = harness().await;
    let path = "/v1/providers";
    let answers = futures::future::join_all((0..30).map(|_| h.get(KEY_A, path))).await;
    let mut passed = 0;
    let mut limited = 0;
    for res in answers {
        assert!(res.headers().contains_key("ratelimit-policy"));
        assert!(res.headers().contains_key("ratelimit"));
        match res.status().as_u16() {
            200 => passed += 1,
            429 => {
                let retry_after: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=3).contains(&retry_after), "{retry_after}");
                expect_error(res, 429, "rate_limited").await;
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((passed, limited), (20, 10));
    // Another tenant's budget is its own.
    assert_eq!(h.get(KEY_B, path).await.status(), 200);
}

#[tokio::test]
async fn ratelimit_headers_count_down() {
    let h = harness().await;
    let first = h.get(KEY_A, "/v1/providers").await;
    assert_eq!(first.headers()["ratelimit-policy"], "\"tenant\";q=20;w=60");
    assert!(first.headers()["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"tenant\";r=19;"));
    let second = h.get(KEY_A, "/v1/providers").await;
    assert!(second.headers()["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"tenant\";r=18;"));
}

#[tokio::test]
async fn the_unfinished_cap_answers_concurrency_limited_until_a_task_ends() {
    let h = harness().await;
    let slow = json!({"type": "text_to_video", "input": {"prompt": "fox", "extra": {"sim": {"queued_ms": 60000}}}});
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            h.create(slow.clone()).await["provider_task_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let res = h.post(KEY_A, "/v1/tasks", &slow).await;
    expect_error(res, 429, "concurrency_limited").await;
    // One ends upstream; once a read has seen it, the count drops.
    let first_id = {
        let list: Value = h
            .get(KEY_A, "/v1/tasks?limit=5")
            .await
            .json()
            .await
            .unwrap();
        list["data"][4]["id"].as_str().unwrap().to_string()
    };
    assert!(h.sim.finish(&ids[0], taskgate_sim::Outcome::Succeed));
    h.wait_status(&first_id, "succeeded").await;
    assert_eq!(h.post(KEY_A, "/v1/tasks", &slow).await.status(), 202);
}

#[tokio::test]
async fn a_429_with_retry_after_1_is_retried_after_at_least_a_second() {
    let h = harness().await;
    h.sim.push_fault(
        FaultRule::on(
            Provider::Makevid,
            Op::Create,
            FaultKind::Status {
                code: 429,
                retry_after_s: Some(1),
                retry_after_ms: None,
            },
        )
        .times(1),
    );
    let started = Instant::now();
    let task = h
        .create(
            json!({"type": "image_to_video", "input": {"image_url": "https://img.example/a.jpg"}}),
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(task["provider"], "patient");
    assert!(
        elapsed >= Duration::from_secs(1),
        "retried after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let stats = h.sim.stats();
    assert_eq!(stats.creates["makevid"], 1, "one create, never doubled");
    assert_eq!(stats.rejected["makevid"], 1);
}

#[tokio::test]
async fn a_failed_poll_is_retried_and_the_read_is_fresh() {
    let h = harness().await;
    // Queued upstream for a minute, so the read sees PENDING however late it comes.
    let task = h
        .create(
            json!({"type": "image_to_video", "input": {"image_url": "https://img.example/a.jpg", "extra": {"sim": {"queued_ms": 60000}}}}),
        )
        .await;
    h.sim.push_fault(
        FaultRule::on(
            Provider::Makevid,
            Op::Poll,
            FaultKind::Status {
                code: 503,
                retry_after_s: None,
                retry_after_ms: Some(50),
            },
        )
        .times(1),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let res = h
        .get(
            KEY_A,
            &format!("/v1/tasks/{}", task["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key("x-taskgate-stale"));
    let read: Value = res.json().await.unwrap();
    assert_eq!(read["provider_status"], "PENDING");
    let polls = h
        .sim
        .task(task["provider_task_id"].as_str().unwrap())
        .unwrap()
        .polls;
    assert_eq!(polls, 2, "one failed poll and its retry");
}

#[tokio::test]
async fn a_hanging_provider_is_cut_at_its_timeout_with_504_and_no_retry_of_the_create() {
    let h = harness().await;
    h.sim
        .push_fault(FaultRule::on(Provider::Runway, Op::Create, FaultKind::Hang).times(1));
    let started = Instant::now();
    let res = h
        .post(KEY_A, "/v1/tasks", &json!({"type": "character_performance", "input": {"character_url": "https://i.example/a.png", "reference_video_url": "https://v.example/b.mp4"}}))
        .await;
    let elapsed = started.elapsed();
    expect_error(res, 504, "upstream_timeout").await;
    assert!(
        elapsed >= Duration::from_millis(380) && elapsed < Duration::from_millis(1500),
        "{elapsed:?}"
    );
    // The simulator may see the hung create only after the gateway gave up on it.
    eventually(
        Duration::from_secs(5),
        "the hung create reached the simulator",
        || h.sim.stats().creates["runway"] > 0,
    )
    .await;
    assert_eq!(
        h.sim.stats().creates["runway"],
        1,
        "a create with an unknown outcome is never repeated"
    );
}

#[tokio::test]
async fn provider_budget_falls_back_then_429_and_reads_serve_stored_state() {
    let h = harness().await;
    let first: Value = create_b(&h, None).await.json().await.unwrap();
    assert_eq!(first["provider"], "metered");
    let second: Value = create_b(&h, None).await.json().await.unwrap();
    assert_eq!(second["provider"], "metered");
    // The budget (burst 2) is spent: the route moves on to the next provider.
    let third: Value = create_b(&h, None).await.json().await.unwrap();
    assert_eq!(third["provider"], "comet-compat");
    let pinned = create_b(&h, Some("metered")).await;
    assert!(pinned.headers().contains_key("retry-after"));
    expect_error(pinned, 429, "rate_limited").await;
    // A read that finds the budget spent serves the stored task and says so.
    let res = h
        .get(
            KEY_B,
            &format!("/v1/tasks/{}", first["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-taskgate-stale"], "provider_rate_limited");
    let read: Value = res.json().await.unwrap();
    assert_eq!(read["status"], "queued");
    assert_eq!(h.sim.stats().creates["makevid"], 2);
}

#[tokio::test]
async fn a_failing_provider_opens_its_circuit_the_route_falls_back_and_it_closes_after_recovery() {
    let h = harness().await;
    h.sim.push_fault(
        FaultRule::on(
            Provider::CometOfficial,
            Op::Create,
            FaultKind::Status {
                code: 500,
                retry_after_s: None,
                retry_after_ms: None,
            },
        )
        .times(3),
    );
    let upscale = json!({"type": "upscale", "input": {"video_url": "https://v.example/a.mp4"}});
    for _ in 0..3 {
        let task = h.create(upscale.clone()).await;
        assert_eq!(task["provider"], "runway");
    }
    assert_eq!(health(&h).await, "unhealthy");
    // Open: the route skips it without calling it.
    let rejected_before = h.sim.stats().rejected["comet_official"];
    let task = h.create(upscale.clone()).await;
    assert_eq!(task["provider"], "runway");
    assert_eq!(h.sim.stats().rejected["comet_official"], rejected_before);
    assert_eq!(h.sim.stats().creates["comet_official"], 0);
    // A route of only open providers is unavailable.
    let res = h
        .post(KEY_A, "/v1/tasks", &json!({"type": "video_to_video", "input": {"video_url": "https://v.example/a.mp4", "prompt": "noir"}}))
        .await;
    expect_error(res, 503, "unavailable").await;
    // After open_for (3 s, ample for the checks above), a probe goes through; the
    // provider has recovered, so it closes.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let task = h.create(upscale.clone()).await;
    assert_eq!(task["provider"], "fragile");
    assert_eq!(health(&h).await, "healthy");
}

async fn create_b(h: &Harness, pin: Option<&str>) -> reqwest::Response {
    let mut body = json!({"type": "text_to_video", "input": {"prompt": "fox", "extra": {"sim": {"queued_ms": 60000}}}});
    if let Some(p) = pin {
        body["provider"] = json!(p);
    }
    h.post(KEY_B, "/v1/tasks", &body).await
}

async fn health(h: &Harness) -> Value {
    let list: Value = h.get(KEY_A, "/v1/providers").await.json().await.unwrap();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "fragile")
        .unwrap()["health"]
        .clone()
}
