//! The error table of API.md, each row against the real gateway: status, code, JSON body,
//! `x-request-id`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use taskgate_sim::{FaultKind, FaultRule, Op, Provider};

#[tokio::test]
async fn invalid_request_for_malformed_json_unknown_fields_wrong_types_and_bad_values() {
    let h = Harness::start().await;
    let raw = h
        .http
        .post(h.url("/v1/tasks"))
        .bearer_auth(KEY_A)
        .header("content-type", "application/json")
        .body("{\"type\": \"text_to_video\", ")
        .send()
        .await
        .unwrap();
    expect_error(raw, 400, "invalid_request").await;
    let cases = [
        json!({"type": "text_to_video", "input": {"prompt": "x"}, "colour": "red"}),
        json!({"type": "text_to_video", "input": {"prompt": "x", "promt": "typo"}}),
        json!({"type": "text_to_video", "input": {"prompt": 5}}),
        json!({"type": "text_to_video"}),
        json!({"type": "text_to_video", "input": {}}),
        json!({"type": "make_coffee", "input": {"prompt": "x"}}),
        json!({"type": "text_to_video", "input": {"prompt": "x", "duration_s": 7}}),
        json!({"type": "text_to_video", "input": {"prompt": "x", "ratio": "wide"}}),
        json!({"type": "image_to_video", "input": {"image_url": "not a url"}}),
        json!({"type": "text_to_video", "input": {"prompt": "x"}, "callback_url": "ftp://x"}),
        json!({"type": "text_to_video", "input": {"prompt": "x"}, "metadata": "nope"}),
        json!({"type": "text_to_video", "input": {"prompt": "x"}, "provider": "nobody"}),
        json!([1, 2]),
    ];
    for body in cases {
        let res = h.post(KEY_A, "/v1/tasks", &body).await;
        let err = expect_error(res, 400, "invalid_request").await;
        assert!(
            !err["error"]["message"].as_str().unwrap().is_empty(),
            "{body}"
        );
    }
    let named = h
        .post(
            KEY_A,
            "/v1/tasks",
            &json!({"type": "text_to_video", "input": {"prompt": "x", "duration_s": 7}}),
        )
        .await;
    let err = expect_error(named, 400, "invalid_request").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input.duration_s"),
        "{err}"
    );
    let stats = h.sim.stats();
    assert_eq!(stats.creates_total(), 0);
    assert_eq!(stats.rejected.values().sum::<u64>(), 0);
}

#[tokio::test]
async fn unauthorized_without_or_with_an_unknown_key() {
    let h = Harness::start().await;
    let none = h.http.get(h.url("/v1/tasks")).send().await.unwrap();
    expect_error(none, 401, "unauthorized").await;
    let wrong = h.get("tg_not_a_key", "/v1/tasks").await;
    expect_error(wrong, 401, "unauthorized").await;
    let basic = h
        .http
        .get(h.url("/v1/providers"))
        .header("authorization", format!("Basic {KEY_A}"))
        .send()
        .await
        .unwrap();
    expect_error(basic, 401, "unauthorized").await;
    let create = h.post("tg_not_a_key", "/v1/tasks", &text_to_video()).await;
    expect_error(create, 401, "unauthorized").await;
}

#[tokio::test]
async fn not_found_for_unknown_tasks_and_routes_and_405_for_wrong_methods() {
    let h = Harness::start().await;
    expect_error(
        h.get(KEY_A, "/v1/tasks/task_01NOPE").await,
        404,
        "not_found",
    )
    .await;
    expect_error(h.get(KEY_A, "/v2/everything").await, 404, "not_found").await;
    let unauthenticated = h.http.get(h.url("/nowhere")).send().await.unwrap();
    expect_error(unauthenticated, 404, "not_found").await;
    let res = h
        .http
        .delete(h.url("/v1/tasks"))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap();
    expect_error(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let h = Harness::start().await;
    let res = h
        .http
        .get(h.url("/v1/tasks"))
        .bearer_auth(KEY_A)
        .header("x-request-id", "client-trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "client-trace-42");
    let res = h
        .http
        .get(h.url("/nowhere"))
        .header("x-request-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "abc");
    let res = h
        .http
        .get(h.url("/v1/tasks"))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap();
    assert!(res.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
}

#[tokio::test]
async fn payload_too_large_over_the_body_limit() {
    let h = Harness::start().await;
    let prompt = "x".repeat(20_000);
    let res = h
        .post(
            KEY_A,
            "/v1/tasks",
            &json!({"type": "text_to_video", "input": {"prompt": prompt}}),
        )
        .await;
    expect_error(res, 413, "payload_too_large").await;
    // Without a Content-Length (chunked), the limit holds too.
    let chunks = futures::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let res = h
        .http
        .post(h.url("/v1/tasks"))
        .bearer_auth(KEY_A)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    expect_error(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn unsupported_task_type_when_no_route_or_pinned_provider_cannot_run_it() {
    let h = Harness::start().await;
    let res = h
        .post(
            KEY_B,
            "/v1/tasks",
            &json!({"type": "upscale", "input": {"video_url": "https://v.example/a.mp4"}}),
        )
        .await;
    expect_error(res, 422, "unsupported_task_type").await;
    let res = h
        .post(KEY_A, "/v1/tasks", &json!({"type": "upscale", "input": {"video_url": "https://v.example/a.mp4"}, "provider": "makevid"}))
        .await;
    expect_error(res, 422, "unsupported_task_type").await;
}

/// CometAPI compat runs character_performance only with a callback URL: a config without
/// `server.public_url` that passes `taskgate check` (the route uses other providers) still
/// lets a client pin it, and the answer names the missing setting before anything is sent.
#[tokio::test]
async fn pinning_a_provider_that_needs_server_public_url_without_it_is_unsupported_task_type() {
    let h = Harness::start().await;
    let res = h
        .post(KEY_A, "/v1/tasks", &json!({"type": "character_performance", "provider": "comet-compat", "input": {"character_url": "https://img.example/hero.png", "reference_video_url": "https://vid.example/act.mp4"}}))
        .await;
    let body = expect_error(res, 422, "unsupported_task_type").await;
    assert_eq!(
        body["error"]["message"],
        "provider 'comet-compat' cannot run character_performance without server.public_url \
         (it needs a callback URL to create this type)"
    );
    assert_eq!(h.sim.stats().creates_total(), 0);
}

#[tokio::test]
async fn upstream_error_when_every_provider_fails() {
    let h = Harness::start().await;
    h.sim.push_fault(
        FaultRule::on(
            Provider::Makevid,
            Op::Create,
            FaultKind::Status {
                code: 500,
                retry_after_s: None,
                retry_after_ms: None,
            },
        )
        .times(1),
    );
    h.sim.push_fault(
        FaultRule::on(
            Provider::CometCompat,
            Op::Create,
            FaultKind::Status {
                code: 502,
                retry_after_s: None,
                retry_after_ms: None,
            },
        )
        .times(1),
    );
    let res = h.post(KEY_A, "/v1/tasks", &text_to_video()).await;
    expect_error(res, 502, "upstream_error").await;
    // Nonsense from the provider: an unknown outcome, so no fallback either.
    h.sim.push_fault(
        FaultRule::on(Provider::Makevid, Op::Create, FaultKind::MalformedJson).times(1),
    );
    let res = h.post(KEY_A, "/v1/tasks", &text_to_video()).await;
    expect_error(res, 502, "upstream_error").await;
    assert_eq!(h.sim.stats().creates_total(), 0);
}

#[tokio::test]
async fn upstream_timeout_when_the_provider_hangs() {
    let h = Harness::start().await;
    h.sim
        .push_fault(FaultRule::on(Provider::Runway, Op::Create, FaultKind::Hang).times(1));
    let started = Instant::now();
    // upscale routes to `slow` (runway dialect, 500 ms timeout) first.
    let res = h
        .post(
            KEY_A,
            "/v1/tasks",
            &json!({"type": "upscale", "input": {"video_url": "https://v.example/a.mp4"}}),
        )
        .await;
    let elapsed = started.elapsed();
    expect_error(res, 504, "upstream_timeout").await;
    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    // The hung create happened (the simulator may see it only after the gateway gave up,
    // on a loaded machine); it was not repeated on the next provider.
    eventually(
        Duration::from_secs(5),
        "the hung create reached the simulator",
        || h.sim.stats().creates["runway"] > 0,
    )
    .await;
    assert_eq!(h.sim.stats().creates["runway"], 1);
}

#[tokio::test]
async fn conflict_for_a_cancel_of_a_finished_task() {
    let h = Harness::start().await;
    let task = h
        .create(json!({"type": "character_performance", "input": {"character_url": "https://img.example/hero.png", "reference_video_url": "https://vid.example/act.mp4"}}))
        .await;
    let id = task["id"].as_str().unwrap();
    h.wait_status(id, "succeeded").await;
    let res = h
        .post(KEY_A, &format!("/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    expect_error(res, 409, "conflict").await;
}
