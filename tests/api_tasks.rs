//! The task routes end to end: the real gateway on loopback against the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn create_answers_202_with_location_and_a_queued_task() {
    flows::create_answers_202_with_location_and_a_queued_task(&Harness::start().await).await;
}

#[tokio::test]
async fn read_refreshes_until_succeeded_with_a_video_url() {
    flows::read_refreshes_until_succeeded_with_a_video_url(&Harness::start().await).await;
}

#[tokio::test]
async fn task_not_exist_within_grace_reads_as_queued() {
    flows::task_not_exist_within_grace_reads_as_queued(&Harness::start().await).await;
}

#[tokio::test]
async fn a_failed_task_carries_the_provider_code_and_message() {
    flows::a_failed_task_carries_the_provider_code_and_message(&Harness::start().await).await;
}

#[tokio::test]
async fn pinned_provider_is_used() {
    let h = Harness::start().await;
    let task = h
        .create(json!({"type": "text_to_video", "input": {"prompt": "fox", "ratio": "16:9"}, "provider": "comet-compat"}))
        .await;
    assert_eq!(task["provider"], "comet-compat");
    let upstream = h
        .sim
        .task(task["provider_task_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(upstream.body["ratio"], "16:9");
    assert_eq!(
        upstream.header("authorization"),
        Some("Bearer provider-key-compat")
    );
}

#[tokio::test]
async fn fallback_on_503_creates_on_the_next_provider_once() {
    flows::fallback_on_503_creates_on_the_next_provider_once(&Harness::start().await).await;
}

#[tokio::test]
async fn fallback_on_refused_connection() {
    let h = Harness::start().await;
    // text_to_image routes to a provider nobody listens for, then comet-official.
    let task = h
        .create(
            json!({"type": "text_to_image", "input": {"prompt": "a lighthouse", "ratio": "1:1"}}),
        )
        .await;
    assert_eq!(task["provider"], "comet-official");
    let upstream = h
        .sim
        .task(task["provider_task_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(upstream.body["ratio"], "1024:1024");
    let done = h
        .wait_status(task["id"].as_str().unwrap(), "succeeded")
        .await;
    assert_eq!(done["outputs"][0]["kind"], "image");
}

#[tokio::test]
async fn a_definite_400_goes_back_to_the_client_without_fallback() {
    flows::a_definite_400_goes_back_to_the_client_without_fallback(&Harness::start().await).await;
}

#[tokio::test]
async fn idempotency_key_returns_the_same_task_with_one_upstream_create() {
    let h = Harness::start().await;
    same_key_same_body_creates_once(&h).await;
    // Keys are per tenant.
    let beta = h
        .http
        .post(h.url("/v1/tasks"))
        .bearer_auth(KEY_B)
        .header("Idempotency-Key", "order-17")
        .json(&text_to_video())
        .send()
        .await
        .unwrap();
    assert_eq!(beta.status(), 202);
    assert_eq!(h.sim.stats().creates_total(), 2);
}

#[tokio::test]
async fn concurrent_same_idempotency_key_creates_once() {
    flows::concurrent_same_idempotency_key_creates_once(&Harness::start().await).await;
}

#[tokio::test]
async fn tenants_see_only_their_own_tasks() {
    flows::tenants_see_only_their_own_tasks(&Harness::start().await).await;
}

#[tokio::test]
async fn list_pages_newest_first_with_status_filter() {
    flows::list_pages_newest_first_with_status_filter(&Harness::start().await).await;
}

#[tokio::test]
async fn cancel_on_runway_cancels_upstream_and_a_second_cancel_conflicts() {
    flows::cancel_on_runway_cancels_upstream_and_a_second_cancel_conflicts(&Harness::start().await)
        .await;
}

#[tokio::test]
async fn cancel_where_the_provider_cannot_is_cancel_unsupported() {
    flows::cancel_where_the_provider_cannot_is_cancel_unsupported(&Harness::start().await).await;
}

#[tokio::test]
async fn providers_lists_what_the_tenant_can_use() {
    let h = Harness::start().await;
    let res: Value = h.get(KEY_B, "/v1/providers").await.json().await.unwrap();
    assert_eq!(res["object"], "list");
    let data = res["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], "makevid");
    assert_eq!(data[0]["type"], "makevid");
    assert_eq!(
        data[0]["task_types"],
        json!(["text_to_video", "image_to_video"])
    );
    assert_eq!(data[0]["can_cancel"], false);
    assert_eq!(data[0]["health"], "healthy");
    let res: Value = h.get(KEY_A, "/v1/providers").await.json().await.unwrap();
    let runway = res["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "runway")
        .unwrap();
    assert_eq!(runway["can_cancel"], true);
}

#[tokio::test]
async fn openapi_and_admin_routes_answer() {
    let h = Harness::start().await;
    let doc: Value = h
        .http
        .get(h.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/tasks",
        "/v1/tasks/{id}",
        "/v1/tasks/{id}/cancel",
        "/v1/providers",
        "/proxy/{provider}/{path}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from openapi.json"
        );
    }
    // Operation ids are unique (the pass-through's one handler serves five methods).
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                assert!(
                    ids.insert(id.to_string()),
                    "{method} {path}: operationId {id} repeated"
                );
            }
        }
    }
    assert_eq!(
        doc["paths"]["/proxy/{provider}/{path}"]["post"]["operationId"],
        "proxy_post"
    );
    assert!(doc["components"]["schemas"].get("Task").is_some());
    let admin_doc = h
        .http
        .get(format!("{}/openapi.json", h.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(admin_doc.status(), 200);
    let health: Value = h
        .http
        .get(format!("{}/healthz", h.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = h
        .http
        .get(format!("{}/readyz", h.admin))
        .send()
        .await
        .unwrap();
    assert!(ready.headers().contains_key("x-request-id"));
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["config_version"].as_str().unwrap().len(), 12);
}
