//! Runway's own API: the task object by status, cancel, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{keys, sim, sorted, timed, KEY};
use serde_json::{json, Value};
use taskgate_sim::{Outcome, Script};

fn task_path(id: &str) -> String {
    format!("/v1/tasks/{id}")
}

#[tokio::test]
async fn runway_create_answers_id() {
    let s = sim(timed(0, 0, 0)).await;
    let r = s
        .post(
            "/v1/image_to_video",
            json!({"promptImage": "https://x.invalid/a.png"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(keys(&r.json()), sorted(&["id"]));
}

#[tokio::test]
async fn runway_pending_shape() {
    // The not-visible window is CometAPI's only: Runway shows the task at once.
    let s = sim(timed(60_000, 60_000, 0)).await;
    let id = s.create_runway(Value::Null).await;
    let v = s.get(&task_path(&id)).await.json();
    assert_eq!(keys(&v), sorted(&["id", "status", "createdAt"]));
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["status"], "PENDING");
    let created = v["createdAt"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == "2024-09-09T06:50:55.123Z".len(),
        "{created}"
    );
}

#[tokio::test]
async fn runway_throttled_shape() {
    let s = sim(Script {
        throttled: true,
        ..timed(0, 60_000, 0)
    })
    .await;
    let id = s.create_runway(Value::Null).await;
    let v = s.get(&task_path(&id)).await.json();
    assert_eq!(keys(&v), sorted(&["id", "status", "createdAt"]));
    assert_eq!(v["status"], "THROTTLED");
}

#[tokio::test]
async fn runway_running_has_float_progress() {
    let s = sim(timed(0, 0, 60_000)).await;
    let id = s.create_runway(Value::Null).await;
    let v = s.get(&task_path(&id)).await.json();
    assert_eq!(keys(&v), sorted(&["id", "status", "createdAt", "progress"]));
    assert_eq!(v["status"], "RUNNING");
    let p = v["progress"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&p), "{p}");
}

#[tokio::test]
async fn runway_succeeded_has_output() {
    let s = sim(timed(0, 0, 0)).await;
    let r = s
        .post("/v1/text_to_image", json!({"promptText": "a cat"}))
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let v = s.get(&task_path(&id)).await.json();
    assert_eq!(keys(&v), sorted(&["id", "status", "createdAt", "output"]));
    assert_eq!(v["status"], "SUCCEEDED");
    assert_eq!(v["output"], json!([s.out_url(&format!("{id}.png"))]));
}

#[tokio::test]
async fn runway_failed_has_failure_and_code() {
    let script = Script {
        outcome: Outcome::Fail,
        failure_code: "INTERNAL.BAD_OUTPUT.CODE01".to_owned(),
        failure_message: "bad output".to_owned(),
        ..timed(0, 0, 0)
    };
    let s = sim(script).await;
    let id = s.create_runway(Value::Null).await;
    let v = s.get(&task_path(&id)).await.json();
    assert_eq!(
        keys(&v),
        sorted(&["id", "status", "createdAt", "failure", "failureCode"])
    );
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["failure"], "bad output");
    assert_eq!(v["failureCode"], "INTERNAL.BAD_OUTPUT.CODE01");
}

#[tokio::test]
async fn runway_delete_cancels_an_unfinished_task() {
    let s = sim(timed(0, 0, 60_000)).await;
    let id = s.create_runway(Value::Null).await;
    let r = s.delete(&task_path(&id)).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let v = s.get(&task_path(&id)).await.json();
    assert_eq!(keys(&v), sorted(&["id", "status", "createdAt"]));
    assert_eq!(v["status"], "CANCELLED");
    let rec = s.server.task(&id).unwrap();
    assert_eq!(rec.cancels, 1);
    assert_eq!(s.server.stats().cancels["runway"], 1);
    assert!(
        !s.server.finish(&id, Outcome::Succeed),
        "a cancelled task stays cancelled"
    );
}

#[tokio::test]
async fn runway_delete_leaves_a_finished_task_unchanged() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_runway(Value::Null).await;
    assert_eq!(s.delete(&task_path(&id)).await.status, 204);
    assert_eq!(s.get(&task_path(&id)).await.json()["status"], "SUCCEEDED");
}

#[tokio::test]
async fn runway_unknown_id_is_404_task_not_found() {
    let s = sim(timed(0, 0, 0)).await;
    let r = s
        .get(&task_path("00000000-0000-0000-0000-000000000000"))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"error": "Task not found"}))
    );
    let r = s.delete(&task_path("nope")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn runway_bad_input_is_400_with_issues_and_doc_url() {
    let s = sim(timed(0, 0, 0)).await;
    let r = s
        .post(
            "/v1/video_to_video",
            json!({"videoUri": "https://x.invalid/v.mp4"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(keys(&v), sorted(&["error", "issues", "docUrl"]));
    assert!(v["error"].as_str().unwrap().contains("promptText"));
    assert!(v["issues"].as_array().is_some_and(|i| !i.is_empty()));
    assert_eq!(v["docUrl"], "https://docs.dev.runwayml.com/api");
    let r = s
        .post(
            "/v1/text_to_image",
            json!({"promptText": "x", "referenceImages": []}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["issues"][0]["code"], "reference_images_empty");
}

#[tokio::test]
async fn runway_requires_x_runway_version_everywhere() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_runway(Value::Null).await;
    let create = s
        .http
        .post(s.url("/v1/image_to_video"))
        .bearer_auth(KEY)
        .json(&json!({"promptImage": "https://x.invalid/a.png"}));
    let poll = s.http.get(s.url(&task_path(&id))).bearer_auth(KEY);
    let cancel = s.http.delete(s.url(&task_path(&id))).bearer_auth(KEY);
    for rb in [create, poll, cancel] {
        let r = s.send(rb).await;
        assert_eq!(r.status, 400);
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("X-Runway-Version"));
    }
}

#[tokio::test]
async fn runway_progress_form_override_applies_while_running() {
    let s = sim(Script {
        progress_form: Some(taskgate_sim::ProgressForm::Percent),
        ..timed(0, 0, 60_000)
    })
    .await;
    let id = s.create_runway(Value::Null).await;
    assert_eq!(s.get(&task_path(&id)).await.json()["progress"], "0%");
    let s = sim(Script {
        progress_form: Some(taskgate_sim::ProgressForm::Over),
        ..timed(0, 0, 60_000)
    })
    .await;
    let id = s.create_runway(Value::Null).await;
    assert_eq!(s.get(&task_path(&id)).await.json()["progress"], json!(1.5));
}
