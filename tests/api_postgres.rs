//! The gateway on the PostgreSQL store (`TASKGATE_TEST_POSTGRES_URL`, a schema per test):
//! the task flow and idempotency end to end, the acceptance flows of `api_tasks`, and two
//! gateways sharing one database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::postgres::TestSchema;
use common::*;
use serde_json::{json, Value};
use taskgate::Gateway;

fn store_section(schema: &TestSchema) -> String {
    format!("{{kind: postgres, url: \"{}\"}}", schema.url())
}

/// The memory store's acceptance flows (`api_tasks`), each on a fresh schema.
macro_rules! on_postgres {
    ($($flow:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $flow() {
            let Some(schema) = TestSchema::create().await else {
                return;
            };
            let h = Harness::start_with_store(&store_section(&schema)).await;
            flows::$flow(&h).await;
            h.gateway.shutdown().await;
        }
    )*};
}

on_postgres!(
    create_answers_202_with_location_and_a_queued_task,
    read_refreshes_until_succeeded_with_a_video_url,
    task_not_exist_within_grace_reads_as_queued,
    a_failed_task_carries_the_provider_code_and_message,
    fallback_on_503_creates_on_the_next_provider_once,
    a_definite_400_goes_back_to_the_client_without_fallback,
    concurrent_same_idempotency_key_creates_once,
    tenants_see_only_their_own_tasks,
    list_pages_newest_first_with_status_filter,
    cancel_on_runway_cancels_upstream_and_a_second_cancel_conflicts,
    cancel_where_the_provider_cannot_is_cancel_unsupported,
);

#[tokio::test]
async fn create_read_and_succeed_on_postgres() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let h = Harness::start_with_store(&store_section(&schema)).await;
    let task = h
        .create(json!({"type": "text_to_video", "input": {"prompt": "fox"}, "metadata": {"order": "A-17", "n": 0.1}}))
        .await;
    let id = task["id"].as_str().unwrap();
    assert_eq!(task["status"], "queued");

    let read: Value = h
        .get(KEY_A, &format!("/v1/tasks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["id"], task["id"]);
    assert_eq!(read["created_at"], task["created_at"]);
    assert_eq!(read["metadata"], json!({"order": "A-17", "n": 0.1}));

    let done = h.wait_status(id, "succeeded").await;
    assert_eq!(done["progress"], 1.0);
    assert!(done["outputs"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with(".mp4"));
    assert!(done["finished_at"].is_string());

    let list: Value = h.get(KEY_A, "/v1/tasks").await.json().await.unwrap();
    assert_eq!(list["data"][0]["id"], task["id"]);
    let other = h.get(KEY_B, &format!("/v1/tasks/{id}")).await;
    expect_error(other, 404, "not_found").await;
    h.gateway.shutdown().await;
}

#[tokio::test]
async fn idempotency_key_returns_the_same_task_with_one_upstream_create_on_postgres() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let h = Harness::start_with_store(&store_section(&schema)).await;
    same_key_same_body_creates_once(&h).await;
    h.gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_database_create_once_per_key_and_share_tasks() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let h = Harness::start_with_store(&store_section(&schema)).await;
    let config = config_text(&h.sim.base_url(), &store_section(&schema));
    let second = Gateway::start(config).await.unwrap();
    let bases = [h.base.clone(), format!("http://{}", second.tenant_addr)];

    // The same key at both replicas at once, four times each: one upstream create.
    let mut answers = Vec::new();
    for i in 0..8 {
        answers.push(
            h.http
                .post(format!("{}/v1/tasks", bases[i % 2]))
                .bearer_auth(KEY_A)
                .header("Idempotency-Key", "burst-1")
                .json(&text_to_video())
                .send(),
        );
    }
    let mut ids = Vec::new();
    for answer in futures::future::join_all(answers).await {
        let answer = answer.unwrap();
        let status = answer.status().as_u16();
        assert!(status == 202 || status == 409, "{status}");
        if status == 202 {
            let task: Value = answer.json().await.unwrap();
            ids.push(task["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(!ids.is_empty());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(h.sim.stats().creates_total(), 1);

    // Created through one replica, read to the end through the other.
    let id = &ids[0];
    let read_elsewhere = |base: &str| {
        h.http
            .get(format!("{base}/v1/tasks/{id}"))
            .bearer_auth(KEY_A)
            .send()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let task: Value = read_elsewhere(&bases[1])
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if task["status"] == "succeeded" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_view: Value = read_elsewhere(&bases[0])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first_view["status"], "succeeded");
    second.shutdown().await;
    h.gateway.shutdown().await;
}
