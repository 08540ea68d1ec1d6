//! The task API's acceptance flows, written once and run by `api_tasks` (memory store) and
//! `api_postgres` (PostgreSQL): each takes a started [`Harness`].

use std::time::Duration;

use serde_json::{json, Value};
use taskgate_sim::{FaultKind, FaultRule, Op, Provider};

use super::*;

pub async fn create_answers_202_with_location_and_a_queued_task(h: &Harness) {
    let res = h
        .post(KEY_A, "/v1/tasks", &json!({"type": "text_to_video", "input": {"prompt": "fox", "duration_s": 10}, "metadata": {"order": "A-17"}}))
        .await;
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(res.headers().contains_key("x-request-id"));
    let task: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/tasks/{}", task["id"].as_str().unwrap())
    );
    assert!(task["id"].as_str().unwrap().starts_with("task_"));
    assert_eq!(task["object"], "task");
    assert_eq!(task["type"], "text_to_video");
    assert_eq!(task["status"], "queued");
    assert_eq!(task["provider"], "makevid");
    assert_eq!(task["metadata"], json!({"order": "A-17"}));
    assert_eq!(task["outputs"], json!([]));
    assert_eq!(task["error"], Value::Null);
    assert_eq!(task["progress"], Value::Null);
    assert!(task["created_at"].as_str().unwrap().ends_with('Z'));
    for field in [
        "provider_task_id",
        "provider_status",
        "started_at",
        "finished_at",
        "updated_at",
    ] {
        assert!(task.get(field).is_some(), "missing {field}");
    }
    // The provider got the normalized input in its dialect, with the tenant's own key.
    let upstream = h
        .sim
        .task(task["provider_task_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(upstream.body["seconds"], 10);
    assert_eq!(upstream.body["text_prompt"], "fox");
    assert_eq!(
        upstream.header("authorization"),
        Some("Bearer acme-own-makevid-key")
    );
}

pub async fn read_refreshes_until_succeeded_with_a_video_url(h: &Harness) {
    let task = h.create(text_to_video()).await;
    let id = task["id"].as_str().unwrap();
    let running = h
        .wait_until(KEY_A, id, Duration::from_secs(10), |t| {
            t["status"] != "queued"
        })
        .await;
    assert!(running["started_at"].is_string());
    let done = h.wait_status(id, "succeeded").await;
    assert_eq!(done["progress"], 1.0);
    assert_eq!(done["provider_status"], "SUCCEEDED");
    let url = done["outputs"][0]["url"].as_str().unwrap();
    assert!(url.ends_with(".mp4"), "{url}");
    assert_eq!(done["outputs"][0]["kind"], "video");
    assert!(done["finished_at"].is_string());
    // Finished: further reads are served from the store without asking the provider.
    let ptid = done["provider_task_id"].as_str().unwrap();
    let polls = h.sim.task(ptid).unwrap().polls;
    for _ in 0..5 {
        assert_eq!(h.get(KEY_A, &format!("/v1/tasks/{id}")).await.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.get(KEY_A, &format!("/v1/tasks/{id}")).await.status(), 200);
    assert_eq!(h.sim.task(ptid).unwrap().polls, polls);
}

pub async fn task_not_exist_within_grace_reads_as_queued(h: &Harness) {
    // comet-official answers task_not_exist for the first 1.5 s here (the grace is 3 s).
    let task = h
        .create(json!({"type": "image_to_video", "input": {"image_url": "https://img.example/fox.jpg", "ratio": "9:16", "extra": {"sim": {"not_visible_ms": 1500}}}}))
        .await;
    assert_eq!(task["provider"], "comet-official");
    let id = task["id"].as_str().unwrap();
    // Past refresh_after (150 ms): the read asks the provider.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let early: Value = h
        .get(KEY_A, &format!("/v1/tasks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(early["status"], "queued");
    let upstream = h
        .sim
        .task(task["provider_task_id"].as_str().unwrap())
        .unwrap();
    assert!(
        upstream.poll_times_ms.first().is_some_and(|ms| *ms < 1500),
        "the read asked while the task was not visible: polls at {:?} ms",
        upstream.poll_times_ms
    );
    assert_eq!(upstream.body["ratio"], "720:1280");
    assert_eq!(upstream.header("x-runway-version"), Some("2024-11-06"));
    h.wait_status(id, "succeeded").await;
}

pub async fn a_failed_task_carries_the_provider_code_and_message(h: &Harness) {
    let task = h
        .create(json!({"type": "character_performance", "input": {
            "character_url": "https://img.example/hero.png",
            "reference_video_url": "https://vid.example/act.mp4",
            "extra": {"sim": {"outcome": "fail", "failure_code": "SAFETY.INPUT.IMAGE", "failure_message": "flagged"}}}}))
        .await;
    assert_eq!(task["provider"], "runway");
    let done = h.wait_status(task["id"].as_str().unwrap(), "failed").await;
    assert_eq!(
        done["error"],
        json!({"code": "SAFETY.INPUT.IMAGE", "message": "flagged"})
    );
    assert_eq!(done["outputs"], json!([]));
}

pub async fn fallback_on_503_creates_on_the_next_provider_once(h: &Harness) {
    h.sim.push_fault(
        FaultRule::on(
            Provider::Makevid,
            Op::Create,
            FaultKind::Status {
                code: 503,
                retry_after_s: None,
                retry_after_ms: None,
            },
        )
        .times(1),
    );
    let task = h.create(text_to_video()).await;
    assert_eq!(task["provider"], "comet-compat");
    let stats = h.sim.stats();
    assert_eq!(stats.creates["makevid"], 0);
    assert_eq!(stats.creates["comet_compat"], 1);
}

pub async fn a_definite_400_goes_back_to_the_client_without_fallback(h: &Harness) {
    h.sim.push_fault(
        FaultRule::on(
            Provider::Makevid,
            Op::Create,
            FaultKind::Status {
                code: 400,
                retry_after_s: None,
                retry_after_ms: None,
            },
        )
        .times(1),
    );
    let res = h.post(KEY_A, "/v1/tasks", &text_to_video()).await;
    let body = expect_error(res, 400, "invalid_request").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("makevid"),
        "{body}"
    );
    assert_eq!(h.sim.stats().creates_total(), 0);
}

pub async fn concurrent_same_idempotency_key_creates_once(h: &Harness) {
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(
            h.http
                .post(h.url("/v1/tasks"))
                .bearer_auth(KEY_A)
                .header("Idempotency-Key", "burst-1")
                .json(&text_to_video())
                .send(),
        );
    }
    let answers = futures::future::join_all(answers).await;
    let accepted = answers
        .iter()
        .filter(|r| r.as_ref().unwrap().status() == 202)
        .count();
    assert!(accepted >= 1);
    for r in &answers {
        let s = r.as_ref().unwrap().status().as_u16();
        assert!(s == 202 || s == 409, "{s}");
    }
    assert_eq!(h.sim.stats().creates_total(), 1);
}

pub async fn tenants_see_only_their_own_tasks(h: &Harness) {
    let task = h.create(text_to_video()).await;
    let id = task["id"].as_str().unwrap();
    let res = h.get(KEY_B, &format!("/v1/tasks/{id}")).await;
    expect_error(res, 404, "not_found").await;
    let res = h
        .post(KEY_B, &format!("/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    expect_error(res, 404, "not_found").await;
    let list: Value = h.get(KEY_B, "/v1/tasks").await.json().await.unwrap();
    assert_eq!(list["data"], json!([]));
}

pub async fn list_pages_newest_first_with_status_filter(h: &Harness) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let t = h
            .create(json!({"type": "text_to_video", "input": {"prompt": format!("fox {i}")}}))
            .await;
        ids.push(t["id"].as_str().unwrap().to_string());
    }
    ids.reverse();
    let page1: Value = h
        .get(KEY_A, "/v1/tasks?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page1["object"], "list");
    assert_eq!(page1["has_more"], true);
    let got: Vec<&str> = page1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, &ids[..2]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2: Value = h
        .get(KEY_A, &format!("/v1/tasks?limit=2&after={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let got: Vec<&str> = page2["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, &ids[2..4]);
    let page3: Value = h
        .get(
            KEY_A,
            &format!(
                "/v1/tasks?limit=2&after={}",
                page2["next_cursor"].as_str().unwrap()
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page3["data"].as_array().unwrap().len(), 1);
    assert_eq!(page3["has_more"], false);
    assert_eq!(page3["next_cursor"], Value::Null);
    let queued: Value = h
        .get(KEY_A, "/v1/tasks?status=queued")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queued["data"].as_array().unwrap().len(), 5);
    let done: Value = h
        .get(KEY_A, "/v1/tasks?status=succeeded")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["data"], json!([]));
    for bad in [
        "/v1/tasks?limit=0",
        "/v1/tasks?limit=101",
        "/v1/tasks?status=done",
        "/v1/tasks?after=zzz",
        "/v1/tasks?colour=red",
    ] {
        expect_error(h.get(KEY_A, bad).await, 400, "invalid_request").await;
    }
}

pub async fn cancel_on_runway_cancels_upstream_and_a_second_cancel_conflicts(h: &Harness) {
    let task = h
        .create(json!({"type": "character_performance", "input": {"character_url": "https://img.example/hero.png", "reference_video_url": "https://vid.example/act.mp4"}}))
        .await;
    let id = task["id"].as_str().unwrap();
    let res = h
        .post(KEY_A, &format!("/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let canceled: Value = res.json().await.unwrap();
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["finished_at"].is_string());
    assert_eq!(
        h.sim
            .task(task["provider_task_id"].as_str().unwrap())
            .unwrap()
            .cancels,
        1
    );
    let again = h
        .post(KEY_A, &format!("/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    expect_error(again, 409, "conflict").await;
    let read: Value = h
        .get(KEY_A, &format!("/v1/tasks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "canceled");
}

pub async fn cancel_where_the_provider_cannot_is_cancel_unsupported(h: &Harness) {
    let task = h.create(text_to_video()).await;
    let res = h
        .post(
            KEY_A,
            &format!("/v1/tasks/{}/cancel", task["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    expect_error(res, 409, "cancel_unsupported").await;
}
