//! makevid: create answer, poll shape of seeds/004, progressRatio as a string, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{keys, sim, sorted, timed};
use serde_json::{json, Value};
use taskgate_sim::{Outcome, Script};

const TASK_KEYS: [&str; 14] = [
    "id",
    "name",
    "image",
    "createdAt",
    "updatedAt",
    "taskType",
    "options",
    "status",
    "error",
    "progressText",
    "progressRatio",
    "estimatedTimeToStartSeconds",
    "artifacts",
    "sharedAsset",
];

#[tokio::test]
async fn makevid_create_answers_a_pending_task_and_server_id() {
    let s = sim(timed(0, 0, 0)).await;
    let body = json!({"seconds": 10, "text_prompt": "a cat", "enhance_prompt": true,
        "init_image": "https://x.invalid/i.jpg", "image_as_end_frame": false});
    let r = s.post("/api/v1/create_runway", body).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(keys(&v), sorted(&["task", "server_id"]));
    assert!(v["server_id"].is_string());
    let t = &v["task"];
    assert_eq!(keys(t), sorted(&TASK_KEYS));
    assert_eq!(t["status"], "PENDING");
    assert_eq!(t["progressRatio"], Value::Null);
    assert_eq!(t["artifacts"], json!([]));
    assert_eq!(t["options"]["seconds"], 10);
    assert_eq!(t["options"]["init_image"], "https://x.invalid/i.jpg");
}

/// The documented answer of seeds/004, field for field.
#[tokio::test]
async fn makevid_poll_succeeded_matches_seed_004() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_makevid(json!({"seconds": 10})).await;
    let r = s.get(&format!("/api/v1/get_runway/{id}")).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(keys(&v), sorted(&["task"]));
    let t = &v["task"];
    assert_eq!(keys(t), sorted(&TASK_KEYS));
    assert_eq!(t["id"], id.as_str());
    for null in ["name", "image", "error", "progressText", "sharedAsset"] {
        assert_eq!(t[null], Value::Null, "{null}");
    }
    assert!(t["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(t["taskType"], "gen3a_turbo");
    assert_eq!(
        keys(&t["options"]),
        sorted(&[
            "name",
            "seconds",
            "text_prompt",
            "seed",
            "exploreMode",
            "watermark",
            "enhance_prompt",
            "init_image",
            "resolution",
            "image_as_end_frame",
            "assetGroupName"
        ])
    );
    assert_eq!(t["status"], "SUCCEEDED");
    assert_eq!(t["progressRatio"], "1");
    assert_eq!(t["estimatedTimeToStartSeconds"], 0);
    let arts = t["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 1);
    let a = &arts[0];
    assert_eq!(
        keys(a),
        sorted(&[
            "id",
            "createdAt",
            "updatedAt",
            "userId",
            "createdBy",
            "taskId",
            "parentAssetGroupId",
            "filename",
            "url",
            "fileSize",
            "isDirectory",
            "previewUrls",
            "private",
            "privateInTeam",
            "deleted",
            "reported",
            "metadata",
            "favorite"
        ])
    );
    assert_eq!(a["taskId"], id.as_str());
    assert_eq!(a["url"], s.out_url(&format!("{id}.mp4")));
    assert!(a["fileSize"].is_string());
    assert!(a["userId"].is_u64());
    assert_eq!(a["previewUrls"][0], s.out_url(&format!("{id}/1.jpg")));
    let m = &a["metadata"];
    assert_eq!(
        keys(m),
        sorted(&["frameRate", "duration", "dimensions", "size"])
    );
    assert_eq!(m["dimensions"], json!([1280, 768]));
    assert_eq!(m["size"], json!({"width": 1280, "height": 768}));
    assert!(m["duration"].as_f64().unwrap() > 10.0);
}

#[tokio::test]
async fn makevid_running_progress_ratio_is_a_string() {
    let s = sim(timed(0, 0, 60_000)).await;
    let id = s.create_makevid(Value::Null).await;
    let t = s.get(&format!("/api/v1/get_runway/{id}")).await.json()["task"].clone();
    assert_eq!(t["status"], "RUNNING");
    let ratio: f64 = t["progressRatio"].as_str().unwrap().parse().unwrap();
    assert!((0.0..1.0).contains(&ratio));
    assert_eq!(t["artifacts"], json!([]));
}

#[tokio::test]
async fn makevid_queued_shows_pending_or_throttled_with_an_estimate() {
    let s = sim(timed(0, 60_000, 0)).await;
    let id = s.create_makevid(Value::Null).await;
    let t = s.get(&format!("/api/v1/get_runway/{id}")).await.json()["task"].clone();
    assert_eq!(t["status"], "PENDING");
    assert_eq!(t["progressRatio"], Value::Null);
    assert!(t["estimatedTimeToStartSeconds"].as_u64().unwrap() > 50);
    let s = sim(Script {
        throttled: true,
        ..timed(0, 60_000, 0)
    })
    .await;
    let id = s.create_makevid(Value::Null).await;
    let t = s.get(&format!("/api/v1/get_runway/{id}")).await.json()["task"].clone();
    assert_eq!(t["status"], "THROTTLED");
}

#[tokio::test]
async fn makevid_failed_has_error_text() {
    let s = sim(Script {
        outcome: Outcome::Fail,
        ..timed(0, 0, 0)
    })
    .await;
    let id = s.create_makevid(Value::Null).await;
    let t = s.get(&format!("/api/v1/get_runway/{id}")).await.json()["task"].clone();
    assert_eq!(t["status"], "FAILED");
    assert_eq!(t["error"], Script::default().failure_message.as_str());
    assert_eq!(t["artifacts"], json!([]));
}

#[tokio::test]
async fn makevid_needs_text_prompt_or_init_image() {
    let s = sim(timed(0, 0, 0)).await;
    let r = s.post("/api/v1/create_runway", json!({"seconds": 5})).await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(keys(&v), sorted(&["error", "code"]));
    assert_eq!(v["code"], 400);
    let r = s
        .post(
            "/api/v1/create_runway",
            json!({"init_image": "https://x.invalid/i.jpg"}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn makevid_unknown_id_is_404() {
    let s = sim(timed(0, 0, 0)).await;
    let r = s
        .get("/api/v1/get_runway/2c8dec65-7882-494b-9365-d1418676cd62")
        .await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"error": "task not found", "code": 404}))
    );
}
