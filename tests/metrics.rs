//! `GET /metrics` on the admin listener after real traffic: every family is there with
//! the expected labels, and labels are route templates, never raw paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

fn config() -> String {
    CONFIG
        .replace(
            "  slow: {",
            "  fragile: {type: makevid, base_url: \"http://127.0.0.1:1\", api_key: provider-key-fragile, retries: 0, circuit: {min_calls: 2, error_ratio: 0.5, window: 30s, open_for: 60s}}\n  \
             slow: {",
        )
        .replace(
            "      makevid: acme-own-makevid-key",
            "      makevid: acme-own-makevid-key\n      fragile: acme-fragile-key",
        )
        .replace(
            "  acme:\n    keys: [\"${KEY_A_HASH}\"]\n",
            "  acme:\n    keys: [\"${KEY_A_HASH}\"]\n    rate_limit: {per_minute: 10, burst: 10}\n",
        )
        .replace(
            "  beta:\n    keys: [\"${KEY_B_HASH}\"]\n",
            "  beta:\n    keys: [\"${KEY_B_HASH}\"]\n    max_unfinished_tasks: 1\n",
        )
}

/// The sample lines of a scrape that start with `prefix` (a name and the start of its labels).
fn samples<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

fn value(line: &str) -> f64 {
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn expect_sample(text: &str, prefix: &str) -> f64 {
    let found = samples(text, prefix);
    assert!(!found.is_empty(), "no sample {prefix} in\n{text}");
    value(found[0])
}

#[tokio::test]
async fn every_family_is_scraped_with_its_labels_after_traffic() {
    let h = Harness::start_with(&config(), "{kind: memory}").await;
    let task = h.create(text_to_video()).await;
    let id = task["id"].as_str().unwrap();
    // Older than refresh_after: the read polls the provider.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(h.get(KEY_A, &format!("/v1/tasks/{id}")).await.status(), 200);
    assert_eq!(h.get(KEY_A, "/proxy/makevid/_sim/echo").await.status(), 200);
    for expected in [502, 502, 503] {
        let res = h.get(KEY_A, "/proxy/fragile/x").await;
        assert_eq!(res.status(), expected);
    }
    assert_eq!(h.get("not-a-key", "/v1/providers").await.status(), 401);
    let mut limited = false;
    for _ in 0..20 {
        if h.get(KEY_A, "/v1/providers").await.status() == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited);
    let slow = json!({"type": "text_to_video", "input": {"prompt": "fox", "extra": {"sim": {"queued_ms": 60000}}}});
    assert_eq!(h.post(KEY_B, "/v1/tasks", &slow).await.status(), 202);
    assert_eq!(h.post(KEY_B, "/v1/tasks", &slow).await.status(), 429);
    // The webhook code reports its deliveries through this method.
    h.gateway.state.metrics.webhook_delivery("delivered");

    let res = h
        .http
        .get(format!("{}/metrics", h.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = res.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"));

    assert!(
        expect_sample(
            &text,
            r#"taskgate_http_requests_total{tenant="acme",route="/v1/tasks",status_class="2xx"}"#
        ) >= 1.0
    );
    assert!(
        expect_sample(
            &text,
            r#"taskgate_http_requests_total{tenant="acme",route="/v1/tasks/{id}",status_class="2xx"}"#
        ) >= 1.0
    );
    expect_sample(
        &text,
        r#"taskgate_http_requests_total{tenant="acme",route="/proxy/{provider}/{*path}",status_class="5xx"}"#,
    );
    expect_sample(
        &text,
        r#"taskgate_http_requests_total{tenant="",route="/v1/providers",status_class="4xx"}"#,
    );
    expect_sample(
        &text,
        r#"taskgate_http_request_duration_seconds_bucket{le="+Inf",route="/v1/tasks/{id}"}"#,
    );
    assert!(!text.contains(id), "a raw path became a label");

    for (provider, operation, outcome) in [
        ("makevid", "create", "ok"),
        ("makevid", "poll", "ok"),
        ("makevid", "proxy", "ok"),
        ("fragile", "proxy", "error"),
        ("fragile", "proxy", "circuit_open"),
    ] {
        expect_sample(
            &text,
            &format!(
                r#"taskgate_upstream_calls_total{{provider="{provider}",operation="{operation}",outcome="{outcome}"}}"#
            ),
        );
    }
    expect_sample(
        &text,
        r#"taskgate_upstream_call_duration_seconds_count{provider="makevid",operation="create"}"#,
    );
    expect_sample(
        &text,
        r#"taskgate_rate_limited_total{tenant="acme",kind="rate"}"#,
    );
    assert_eq!(
        expect_sample(
            &text,
            r#"taskgate_rate_limited_total{tenant="beta",kind="concurrency"}"#
        ),
        1.0
    );
    // beta's slow task at least (acme's may still be queued too).
    assert!(
        expect_sample(
            &text,
            r#"taskgate_tasks{provider="makevid",status="queued"}"#
        ) >= 1.0
    );
    assert_eq!(
        expect_sample(
            &text,
            r#"taskgate_tasks{provider="runway",status="running"}"#
        ),
        0.0
    );
    assert_eq!(
        expect_sample(
            &text,
            r#"taskgate_webhook_deliveries_total{outcome="delivered"}"#
        ),
        1.0
    );
    assert_eq!(
        expect_sample(&text, r#"taskgate_circuit_state{provider="fragile"}"#),
        2.0
    );
    assert_eq!(
        expect_sample(&text, r#"taskgate_circuit_state{provider="makevid"}"#),
        0.0
    );
}
