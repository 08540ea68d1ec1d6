//! CometAPI compatibility format: create answers, feed shapes, words, output places.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{keys, sim, sorted, timed};
use serde_json::{json, Value};
use taskgate_sim::{CreateCode, Outcome, OutputField, ProgressForm, Script, Shape};

#[tokio::test]
async fn compat_create_answers_integer_code() {
    let s = sim(timed(0, 0, 0)).await;
    let r = s
        .post(
            "/runway/pro/act_one",
            json!({
                "video": "https://x.invalid/v.mp4",
                "image": "https://x.invalid/i.jpeg",
                "callback_url": "https://example.com/webhook"
            }),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["code"], json!(200));
    assert!(v["code"].is_i64());
    assert_eq!(v["message"], "");
    assert_eq!(v["msg"], "success");
    let id = v["data"]["task_id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a uuid: {id}");
    assert_eq!(keys(&v), sorted(&["code", "message", "msg", "data"]));
}

#[tokio::test]
async fn compat_create_code_can_be_a_string() {
    for (form, code) in [
        (CreateCode::String, json!("200")),
        (CreateCode::Success, json!("success")),
    ] {
        let s = sim(Script {
            create_code: form,
            ..timed(0, 0, 0)
        })
        .await;
        let r = s
            .post("/runway/pro/generate", json!({"prompt": "a cat"}))
            .await;
        assert_eq!(r.json()["code"], code);
    }
}

#[tokio::test]
async fn compat_missing_required_fields_is_400_invalid_request() {
    let s = sim(timed(0, 0, 0)).await;
    let r = s
        .post(
            "/runway/pro/act_one",
            json!({"video": "https://x.invalid/v.mp4"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["code"], "invalid_request");
    assert_eq!(v["data"], Value::Null);
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("image") && msg.contains("callback_url"),
        "{msg}"
    );
    let r = s
        .post("/runway/pro/generate", json!({"ratio": "16:9"}))
        .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("invalid_request"))
    );
    let r = s
        .post("/runway/pro/video2video", json!({"prompt": "x"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(s.server.stats().creates_total(), 0);
}

#[tokio::test]
async fn compat_feed_not_visible_is_400_task_not_exist() {
    let s = sim(timed(60_000, 0, 0)).await;
    let id = s.create_compat(Value::Null).await;
    let expected = json!({"code": "task_not_exist", "message": "task_not_exist", "data": null});
    let r = s.feed(&id).await;
    assert_eq!((r.status, r.json()), (400, expected.clone()));
    let r = s.feed("00000000-0000-0000-0000-000000000000").await;
    assert_eq!((r.status, r.json()), (400, expected));
    assert_eq!(s.server.task(&id).unwrap().polls, 1);
}

#[tokio::test]
async fn compat_feed_wrapped_shape() {
    let s = sim(timed(0, 60_000, 0)).await;
    let id = s
        .create_compat(json!({"image": "https://x.invalid/i.png"}))
        .await;
    let v = s.feed(&id).await.json();
    assert_eq!(v["code"], "success");
    assert_eq!(v["message"], "");
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
    assert_eq!(inner["status"], "SUBMITTED");
    assert_eq!(inner["fail_reason"], "");
    assert!(inner["submit_time"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        (inner["start_time"].clone(), inner["finish_time"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(inner["progress"], "0%");
    assert_eq!(keys(&inner["data"]), sorted(&["id", "status", "createdAt"]));
    assert_eq!(inner["data"]["id"], id.as_str());
    assert_eq!(inner["data"]["status"], "PENDING");
    assert!(inner["data"]["createdAt"]
        .as_str()
        .unwrap()
        .ends_with("+08:00"));
}

#[tokio::test]
async fn compat_feed_bare_shape() {
    let s = sim(Script {
        shape: Shape::Bare,
        ..timed(0, 0, 0)
    })
    .await;
    let id = s.create_compat(Value::Null).await;
    let v = s.feed(&id).await.json();
    assert_eq!(v["task_id"], id.as_str());
    assert_eq!(v["action"], "TEXT_TO_VIDEO");
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["progress"], "100%");
    assert_eq!(v["data"]["status"], "SUCCEEDED");
    assert!(v.get("code").is_none());
    assert!(v["finish_time"].as_u64().unwrap() >= v["start_time"].as_u64().unwrap());
    assert!(v["start_time"].as_u64().unwrap() >= v["submit_time"].as_u64().unwrap());
}

/// The URL of the task's files without the extension (`{base}/_sim/out/{id}`), and the
/// answer's `data`.
async fn succeeded_feed(output_field: OutputField) -> (String, Value) {
    let s = sim(Script {
        output_field,
        ..timed(0, 0, 0)
    })
    .await;
    let id = s.create_compat(Value::Null).await;
    let v = s.feed(&id).await.json();
    (s.out_url(&id), v["data"].clone())
}

#[tokio::test]
async fn compat_output_in_result_url() {
    let (out, inner) = succeeded_feed(OutputField::ResultUrl).await;
    assert_eq!(inner["result_url"], format!("{out}.mp4"));
    assert!(inner.get("video_url").is_none());
    assert!(inner["data"].get("video_url").is_none());
    assert!(inner["data"].get("output").is_none());
}

#[tokio::test]
async fn compat_output_in_top_level_video_url() {
    let (out, inner) = succeeded_feed(OutputField::VideoUrl).await;
    assert_eq!(inner["video_url"], format!("{out}.mp4"));
    assert!(inner.get("result_url").is_none());
}

#[tokio::test]
async fn compat_output_nested_in_data() {
    let (out, inner) = succeeded_feed(OutputField::Nested).await;
    assert_eq!(inner["data"]["video_url"], format!("{out}.mp4"));
    assert_eq!(inner["data"]["poster"], format!("{out}/1.jpg"));
    assert!(inner.get("result_url").is_none() && inner.get("video_url").is_none());
}

#[tokio::test]
async fn compat_progress_is_a_percent_string() {
    let s = sim(timed(0, 0, 60_000)).await;
    let id = s.create_compat(Value::Null).await;
    let inner = s.feed(&id).await.json()["data"].clone();
    assert_eq!(inner["status"], "IN_PROGRESS");
    assert_eq!(inner["data"]["status"], "RUNNING");
    let p = inner["progress"].as_str().unwrap();
    let n: u32 = p.strip_suffix('%').unwrap().parse().unwrap();
    assert!(n < 100, "{p}");
    assert!(inner["start_time"].as_u64().unwrap() > 0);
    assert!(s.server.finish(&id, Outcome::Succeed));
    let inner = s.feed(&id).await.json()["data"].clone();
    assert_eq!(inner["progress"], "100%");
    assert_eq!(inner["status"], "SUCCESS");
}

#[tokio::test]
async fn compat_progress_overrides_are_written_as_asked() {
    let cases = [
        (ProgressForm::Float, json!(0.0)),
        (ProgressForm::RatioString, json!("0")),
        (ProgressForm::Null, Value::Null),
        (ProgressForm::Over, json!("150%")),
        (ProgressForm::Negative, json!("-50%")),
    ];
    for (form, expected) in cases {
        let s = sim(Script {
            progress_form: Some(form),
            ..timed(0, 0, 600_000)
        })
        .await;
        let id = s.create_compat(Value::Null).await;
        let inner = s.feed(&id).await.json()["data"].clone();
        assert_eq!(inner["progress"], expected, "{form:?}");
    }
}

#[tokio::test]
async fn compat_failure_has_fail_reason() {
    let s = sim(Script {
        outcome: Outcome::Fail,
        ..timed(0, 0, 0)
    })
    .await;
    let id = s.create_compat(Value::Null).await;
    let inner = s.feed(&id).await.json()["data"].clone();
    assert_eq!(inner["status"], "FAILURE");
    assert_eq!(inner["data"]["status"], "FAILED");
    assert_eq!(
        inner["fail_reason"],
        Script::default().failure_message.as_str()
    );
    assert!(inner.get("result_url").is_none());
}

#[tokio::test]
async fn compat_status_words_follow_the_documented_order() {
    let s = sim(timed(20, 80, 80)).await;
    let id = s.create_compat(Value::Null).await;
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while seen.last().map(String::as_str) != Some("SUCCESS") {
        assert!(tokio::time::Instant::now() < deadline, "{seen:?}");
        let r = s.feed(&id).await;
        let word = if r.status == 400 {
            r.json()["code"].as_str().unwrap().to_owned()
        } else {
            r.json()["data"]["status"].as_str().unwrap().to_owned()
        };
        if seen.last() != Some(&word) {
            seen.push(word);
        }
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let order = [
        "task_not_exist",
        "SUBMITTED",
        "QUEUED",
        "IN_PROGRESS",
        "SUCCESS",
    ];
    let mut pos = 0;
    for w in &seen {
        let at = order
            .iter()
            .position(|o| o == w)
            .unwrap_or_else(|| panic!("{w} in {seen:?}"));
        assert!(at >= pos, "out of order: {seen:?}");
        pos = at;
    }
}
