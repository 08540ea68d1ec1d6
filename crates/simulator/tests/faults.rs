//! Injected faults: latency, statuses with Retry-After, hangs, malformed JSON, odd words.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{sim, timed, KEY, VERSION};
use serde_json::{json, Value};
use taskgate_sim::{FaultKind, FaultRule, Op, Provider, Script};

fn status(code: u16, retry_after_s: Option<u64>, retry_after_ms: Option<u64>) -> FaultKind {
    FaultKind::Status {
        code,
        retry_after_s,
        retry_after_ms,
    }
}

#[tokio::test]
async fn fault_latency_delays_then_answers_normally() {
    let s = sim(timed(0, 0, 0)).await;
    // A second: far longer than a plain answer takes, even on a loaded machine.
    let latency = Duration::from_secs(1);
    s.server.push_fault(
        FaultRule::on(
            Provider::Runway,
            Op::Poll,
            FaultKind::Latency {
                ms: latency.as_millis() as u64,
            },
        )
        .times(1),
    );
    let id = s.create_runway(Value::Null).await;
    let t0 = Instant::now();
    let r = s.get(&format!("/v1/tasks/{id}")).await;
    assert!(t0.elapsed() >= latency);
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("SUCCEEDED"))
    );
    let t0 = Instant::now();
    s.get(&format!("/v1/tasks/{id}")).await;
    assert!(t0.elapsed() < latency, "used up after one");
}

#[tokio::test]
async fn fault_429_with_retry_after_does_not_create() {
    let s = sim(timed(0, 0, 0)).await;
    let rule = FaultRule::on(
        Provider::CometCompat,
        Op::Create,
        status(429, Some(2), Some(1500)),
    );
    s.server.push_fault(rule.times(1));
    let r = s
        .post("/runway/pro/generate", json!({"prompt": "a cat"}))
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(r.header("retry-after-ms"), Some("1500"));
    let v = r.json();
    assert_eq!(v["code"], "rate_limit_exceeded");
    assert_eq!(v["data"], Value::Null);
    let stats = s.server.stats();
    assert_eq!(
        (stats.creates_total(), stats.rejected["comet_compat"]),
        (0, 1)
    );
    s.create_compat(Value::Null).await;
    assert_eq!(s.server.stats().creates_total(), 1);
}

#[tokio::test]
async fn fault_status_uses_each_dialect_error_shape() {
    let s = sim(timed(0, 0, 0)).await;
    s.server.push_fault(
        FaultRule::on(Provider::Runway, Op::Create, status(429, Some(1), None)).times(1),
    );
    let r = s
        .post(
            "/v1/image_to_video",
            json!({"promptImage": "https://x.invalid/a.png"}),
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(r.json()["error"].is_string());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("retry-after-ms"), None);
    s.server
        .push_fault(FaultRule::on(Provider::Makevid, Op::Create, status(429, None, None)).times(1));
    let r = s
        .post("/api/v1/create_runway", json!({"text_prompt": "a cat"}))
        .await;
    assert_eq!((r.status, r.json()["code"].clone()), (429, json!(429)));
    assert_eq!(s.server.stats().creates_total(), 0);
}

#[tokio::test]
async fn fault_5xx_on_poll_then_recovers() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_compat(Value::Null).await;
    s.server.push_fault(
        FaultRule::on(Provider::CometCompat, Op::Poll, status(503, None, None)).times(2),
    );
    for _ in 0..2 {
        let r = s.feed(&id).await;
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (503, json!("upstream_error"))
        );
    }
    assert_eq!(s.feed(&id).await.status, 200);
    assert_eq!(s.server.task(&id).unwrap().polls, 3);
}

#[tokio::test]
async fn fault_hang_on_create_creates_the_task_and_never_answers() {
    let s = sim(timed(0, 0, 0)).await;
    s.server
        .push_fault(FaultRule::on(Provider::CometOfficial, Op::Create, FaultKind::Hang).times(1));
    let t0 = Instant::now();
    let err = s
        .http
        .post(s.url("/runwayml/v1/image_to_video"))
        .bearer_auth(KEY)
        .header("X-Runway-Version", VERSION)
        .json(&json!({"promptImage": "https://x.invalid/a.png"}))
        .timeout(Duration::from_millis(150))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    // The simulator may see the request only after the client gave up (a loaded
    // machine); once it has, the task exists though no answer ever came.
    let created = common::until(|| async {
        let n = s.server.stats().creates["comet_official"];
        (n > 0).then_some(n)
    })
    .await;
    assert_eq!(created, 1, "created before hanging");
}

#[tokio::test]
async fn fault_hang_on_poll_times_the_client_out() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_makevid(Value::Null).await;
    s.server
        .push_fault(FaultRule::on(Provider::Makevid, Op::Poll, FaultKind::Hang).times(1));
    let err = s
        .request(reqwest::Method::GET, &format!("/api/v1/get_runway/{id}"))
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    // The hang is used up once the simulator has seen that poll (it may see it only
    // after the client gave up); the next one is answered.
    common::until(|| async { (s.server.task(&id).unwrap().polls == 1).then_some(()) }).await;
    let r = s.get(&format!("/api/v1/get_runway/{id}")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn fault_malformed_json_on_create_does_not_create() {
    let s = sim(timed(0, 0, 0)).await;
    s.server
        .push_fault(FaultRule::on(Provider::Runway, Op::Create, FaultKind::MalformedJson).times(1));
    let r = s
        .post(
            "/v1/image_to_video",
            json!({"promptImage": "https://x.invalid/a.png"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_str::<Value>(&r.text).is_err(),
        "{}",
        r.text
    );
    assert!(r.text.starts_with('{'));
    assert_eq!(s.server.stats().creates_total(), 0);
}

#[tokio::test]
async fn fault_malformed_json_on_poll() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_compat(Value::Null).await;
    s.server.push_fault(
        FaultRule::on(Provider::CometCompat, Op::Poll, FaultKind::MalformedJson).times(1),
    );
    let r = s.feed(&id).await;
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_str::<Value>(&r.text).is_err(),
        "{}",
        r.text
    );
    assert_eq!(s.feed(&id).await.json()["code"], "success");
}

#[tokio::test]
async fn fault_unknown_status_word_on_poll() {
    let s = sim(timed(0, 0, 0)).await;
    let word = FaultKind::UnknownStatus {
        word: "MYSTERY".to_owned(),
    };
    s.server.push_fault(FaultRule::any(word).times(2));
    let id = s.create_compat(Value::Null).await;
    let v = s.feed(&id).await.json();
    assert_eq!(v["data"]["status"], "MYSTERY");
    assert_eq!(v["data"]["data"]["status"], "MYSTERY");
    let id = s.create_runway(Value::Null).await;
    assert_eq!(
        s.get(&format!("/v1/tasks/{id}")).await.json()["status"],
        "MYSTERY"
    );
    assert_eq!(
        s.get(&format!("/v1/tasks/{id}")).await.json()["status"],
        "SUCCEEDED"
    );
}

#[tokio::test]
async fn script_status_word_replaces_the_running_word() {
    let s = sim(Script {
        status_word: Some("WARMING_UP".to_owned()),
        ..timed(0, 0, 60_000)
    })
    .await;
    let id = s.create_makevid(Value::Null).await;
    let t = s.get(&format!("/api/v1/get_runway/{id}")).await.json()["task"].clone();
    assert_eq!(t["status"], "WARMING_UP");
    s.server.finish(&id, taskgate_sim::Outcome::Succeed);
    let t = s.get(&format!("/api/v1/get_runway/{id}")).await.json()["task"].clone();
    assert_eq!(t["status"], "SUCCEEDED");
}

#[tokio::test]
async fn fault_on_cancel_leaves_the_task_running() {
    let s = sim(timed(0, 0, 60_000)).await;
    let id = s.create_runway(Value::Null).await;
    s.server
        .push_fault(FaultRule::on(Provider::Runway, Op::Cancel, status(502, None, None)).times(1));
    assert_eq!(s.delete(&format!("/v1/tasks/{id}")).await.status, 502);
    assert_eq!(
        s.get(&format!("/v1/tasks/{id}")).await.json()["status"],
        "RUNNING"
    );
    assert_eq!(s.delete(&format!("/v1/tasks/{id}")).await.status, 204);
    assert_eq!(s.server.task(&id).unwrap().cancels, 2);
}

#[tokio::test]
async fn per_task_faults_from_sim_apply_to_that_task_only() {
    let s = sim(timed(0, 0, 0)).await;
    let sim_obj = json!({"sim": {"faults": [
        {"op": "poll", "kind": "status", "code": 500, "count": 1},
        {"op": "poll", "kind": "unknown_status", "word": "ODD", "count": 1}
    ]}});
    let faulty = s.create_runway(sim_obj).await;
    let plain = s.create_runway(Value::Null).await;
    assert_eq!(s.get(&format!("/v1/tasks/{plain}")).await.status, 200);
    assert_eq!(s.get(&format!("/v1/tasks/{faulty}")).await.status, 500);
    assert_eq!(
        s.get(&format!("/v1/tasks/{faulty}")).await.json()["status"],
        "ODD"
    );
    assert_eq!(
        s.get(&format!("/v1/tasks/{faulty}")).await.json()["status"],
        "SUCCEEDED"
    );
}

#[tokio::test]
async fn per_task_create_fault_from_sim() {
    let s = sim(timed(0, 0, 0)).await;
    let body = json!({"prompt": "a cat", "sim": {"faults": [
        {"op": "create", "kind": "status", "code": 429, "retry_after_s": 3}
    ]}});
    let r = s.post("/runway/pro/generate", body).await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
    assert_eq!(s.server.stats().creates_total(), 0);
}

#[tokio::test]
async fn faults_can_be_pushed_over_http() {
    let s = sim(timed(0, 0, 0)).await;
    let rule =
        json!({"provider": "runway", "op": "poll", "kind": "status", "code": 502, "count": 1});
    let r = s.send(s.http.post(s.url("/_sim/faults")).json(&rule)).await;
    assert_eq!(r.status, 200);
    let bad = json!({"provider": "nobody", "kind": "hang"});
    assert_eq!(
        s.send(s.http.post(s.url("/_sim/faults")).json(&bad))
            .await
            .status,
        400
    );
    let id = s.create_runway(Value::Null).await;
    assert_eq!(s.get(&format!("/v1/tasks/{id}")).await.status, 502);
    assert_eq!(s.get(&format!("/v1/tasks/{id}")).await.status, 200);
}

#[tokio::test]
async fn reset_clears_faults() {
    let s = sim(timed(0, 0, 0)).await;
    s.server.push_fault(FaultRule::any(status(500, None, None)));
    assert_eq!(
        s.post("/runway/pro/generate", json!({"prompt": "x"}))
            .await
            .status,
        500
    );
    s.server.reset();
    s.server.set_scenario(timed(0, 0, 0));
    s.create_compat(Value::Null).await;
}

#[tokio::test]
async fn fault_hold_keeps_requests_until_released_then_answers_normally() {
    let s = sim(timed(0, 0, 0)).await;
    s.server.push_fault(FaultRule::on(
        Provider::Makevid,
        Op::Create,
        FaultKind::Hold,
    ));
    let create = |prompt: &'static str| {
        let rb = s
            .request(reqwest::Method::POST, "/api/v1/create_runway")
            .json(&json!({"text_prompt": prompt}));
        tokio::spawn(async move { rb.send().await.unwrap().status().as_u16() })
    };
    let (first, second) = (create("a"), create("b"));
    common::until(|| async { (s.server.held() == 2).then_some(()) }).await;
    assert!(!first.is_finished() && !second.is_finished());
    assert_eq!(s.server.stats().creates_total(), 0, "held before creating");
    let r = s.send(s.http.get(s.url("/_sim/held"))).await;
    assert_eq!(r.json(), json!({"held": 2}));

    assert_eq!(s.server.release_holds(), 2);
    assert_eq!((first.await.unwrap(), second.await.unwrap()), (200, 200));
    assert_eq!(s.server.held(), 0);
    assert_eq!(s.server.stats().creates_total(), 2);
    // The rule went with the release.
    s.create_makevid(Value::Null).await;
    assert_eq!(s.server.stats().creates_total(), 3);
}

#[tokio::test]
async fn fault_hold_forgets_a_request_whose_client_left_and_releases_over_http() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_makevid(Value::Null).await;
    s.server
        .push_fault(FaultRule::on(Provider::Makevid, Op::Poll, FaultKind::Hold));
    let err = s
        .request(reqwest::Method::GET, &format!("/api/v1/get_runway/{id}"))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    common::until(|| async {
        (s.server.task(&id).unwrap().polls == 1 && s.server.held() == 0).then_some(())
    })
    .await;
    let poll = s.request(reqwest::Method::GET, &format!("/api/v1/get_runway/{id}"));
    let poll = tokio::spawn(async move { poll.send().await.unwrap().status().as_u16() });
    common::until(|| async { (s.server.held() == 1).then_some(()) }).await;
    let r = s.send(s.http.post(s.url("/_sim/held/release"))).await;
    assert_eq!(r.json(), json!({"released": 1}));
    assert_eq!(poll.await.unwrap(), 200);
}
