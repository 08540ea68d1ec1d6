//! CometAPI official format: create answer, version header, wrapped and bare polls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{keys, sim, sorted, timed};
use reqwest::Method;
use serde_json::{json, Value};
use taskgate_sim::{Outcome, Script, Shape};

#[tokio::test]
async fn official_create_answers_id_only() {
    let s = sim(timed(0, 0, 0)).await;
    let r = s
        .post(
            "/runwayml/v1/image_to_video",
            json!({"promptImage": "https://x.invalid/a.png"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(keys(&v), sorted(&["id"]));
    assert_eq!(v["id"].as_str().unwrap().len(), 36);
}

#[tokio::test]
async fn official_requires_x_runway_version() {
    let s = sim(timed(0, 0, 0)).await;
    let rb = s
        .http
        .post(s.url("/runwayml/v1/image_to_video"))
        .bearer_auth(common::KEY)
        .json(&json!({"promptImage": "https://x.invalid/a.png"}));
    let r = s.send(rb).await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["code"], "invalid_request");
    assert!(v["message"].as_str().unwrap().contains("X-Runway-Version"));
    assert_eq!(v["data"], Value::Null);
    assert_eq!(s.server.stats().creates_total(), 0);
}

#[tokio::test]
async fn official_text_to_image_empty_reference_images_is_reference_images_empty() {
    let s = sim(timed(0, 0, 0)).await;
    let body = json!({"promptText": "a cat", "model": "gen4_image", "referenceImages": []});
    let r = s.post("/runwayml/v1/text_to_image", body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "reference_images_empty");
    let body =
        json!({"promptText": "a cat", "referenceImages": [{"uri": "https://x.invalid/r.png"}]});
    let r = s.post("/runwayml/v1/text_to_image", body).await;
    assert_eq!(r.status, 200);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let v = s.get(&format!("/runwayml/v1/tasks/{id}")).await.json();
    assert_eq!(v["data"]["action"], "TEXT_TO_IMAGE");
    assert_eq!(
        v["data"]["data"]["output"],
        json!([s.out_url(&format!("{id}.png"))])
    );
}

#[tokio::test]
async fn official_create_routes_check_their_fields() {
    let s = sim(timed(0, 0, 0)).await;
    let bad = [
        ("/runwayml/v1/image_to_video", json!({"promptText": "x"})),
        ("/runwayml/v1/text_to_image", json!({"ratio": "1280:720"})),
        (
            "/runwayml/v1/video_to_video",
            json!({"videoUri": "https://x.invalid/v.mp4"}),
        ),
        ("/runwayml/v1/video_upscale", json!({"model": "upscale_v1"})),
        (
            "/runwayml/v1/character_performance",
            json!({"character": {"type": "image"}}),
        ),
    ];
    for (path, body) in bad {
        let r = s.post(path, body).await;
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("invalid_request")),
            "{path}"
        );
    }
    let good = [
        (
            "/runwayml/v1/video_to_video",
            json!({"videoUri": "https://x.invalid/v.mp4", "promptText": "x"}),
        ),
        (
            "/runwayml/v1/video_upscale",
            json!({"videoUri": "https://x.invalid/v.mp4"}),
        ),
        (
            "/runwayml/v1/character_performance",
            json!({"character": {"type": "image", "uri": "https://x.invalid/c.png"},
                   "reference": {"type": "video", "uri": "https://x.invalid/r.mp4"}}),
        ),
    ];
    for (path, body) in good {
        assert_eq!(s.post(path, body).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn official_not_visible_is_task_not_exist() {
    let s = sim(timed(60_000, 0, 0)).await;
    let id = s.create_official(Value::Null).await;
    let r = s.get(&format!("/runwayml/v1/tasks/{id}")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"code": "task_not_exist", "message": "task_not_exist", "data": null})
    );
}

/// The live answer of seeds/002: wrapped, QUEUED, nested Runway object PENDING.
#[tokio::test]
async fn official_poll_wrapped_matches_seed_002() {
    // SUBMITTED for the first second, QUEUED for the next: room for a loaded machine.
    let s = sim(timed(0, 2000, 60_000)).await;
    let id = s.create_official(Value::Null).await;
    // The queued phase shows SUBMITTED first, then QUEUED (seen live).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let v = loop {
        let v = s
            .send(s.request(Method::GET, &format!("/runwayml/v1/tasks/{id}")))
            .await
            .json();
        if v["data"]["status"] != "SUBMITTED" {
            break v;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(keys(&v), sorted(&["code", "message", "data"]));
    assert_eq!(
        (v["code"].clone(), v["message"].clone()),
        (json!("success"), json!(""))
    );
    let inner = &v["data"];
    assert_eq!(
        keys(inner),
        sorted(&[
            "task_id",
            "action",
            "status",
            "fail_reason",
            "submit_time",
            "start_time",
            "finish_time",
            "progress",
            "data"
        ])
    );
    assert_eq!(inner["task_id"], id.as_str());
    assert_eq!(inner["action"], "IMAGE_TO_VIDEO");
    assert_eq!(inner["status"], "QUEUED");
    assert_eq!(inner["fail_reason"], "");
    assert!(inner["submit_time"].is_u64());
    assert_eq!(
        (inner["start_time"].clone(), inner["finish_time"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(inner["progress"], "0%");
    assert_eq!(keys(&inner["data"]), sorted(&["id", "status", "createdAt"]));
    assert_eq!(inner["data"]["id"], id.as_str());
    assert_eq!(inner["data"]["status"], "PENDING");
    let created = inner["data"]["createdAt"].as_str().unwrap();
    assert_eq!(
        created.len(),
        "2026-03-13T09:52:46+08:00".len(),
        "{created}"
    );
    assert!(created.ends_with("+08:00"));
}

#[tokio::test]
async fn official_poll_wrapped_succeeded_relays_runway_output() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_official(Value::Null).await;
    let inner = s.get(&format!("/runwayml/v1/tasks/{id}")).await.json()["data"].clone();
    let url = s.out_url(&format!("{id}.mp4"));
    assert_eq!(inner["status"], "SUCCESS");
    assert_eq!(inner["result_url"], url.as_str());
    assert_eq!(inner["data"]["status"], "SUCCEEDED");
    assert_eq!(inner["data"]["output"], json!([url]));
}

#[tokio::test]
async fn official_poll_bare_is_the_runway_task_object() {
    let s = sim(Script {
        shape: Shape::Bare,
        outcome: Outcome::Fail,
        ..timed(0, 0, 0)
    })
    .await;
    let id = s.create_official(Value::Null).await;
    let v = s.get(&format!("/runwayml/v1/tasks/{id}")).await.json();
    assert_eq!(
        keys(&v),
        sorted(&["id", "status", "createdAt", "failure", "failureCode"])
    );
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["failureCode"], "SAFETY.INPUT.TEXT");
    assert!(v["createdAt"].as_str().unwrap().ends_with('Z'));

    let s = sim(Script {
        shape: Shape::Bare,
        ..timed(0, 0, 0)
    })
    .await;
    let id = s.create_official(Value::Null).await;
    let v = s.get(&format!("/runwayml/v1/tasks/{id}")).await.json();
    assert_eq!(v["status"], "SUCCEEDED");
    assert_eq!(v["output"], json!([s.out_url(&format!("{id}.mp4"))]));
}

#[tokio::test]
async fn official_ids_are_unknown_to_other_dialects() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_official(Value::Null).await;
    assert_eq!(s.get(&format!("/v1/tasks/{id}")).await.status, 404);
    assert_eq!(s.feed(&id).await.json()["code"], "task_not_exist");
}
