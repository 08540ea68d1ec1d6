//! Every JSON example of the provider documents (`/work/shared/seeds/`) and every shape
//! described in `providers.md`, stored under `tests/fixtures/` and read through the adapters.
// Helpers outside #[test] fns may unwrap too: a panic here is a failed test (clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use taskgate_core::{
    adapter_for, AdapterSettings, CreateOptions, FailureClass, Output, OutputKind, Progress,
    ProviderAdapter, ProviderKind, Snapshot, TaskError, TaskInput, TaskStatus, TaskType,
    UpstreamError, WireAnswer,
};

const RUNWAY_TASK_ID: &str = "17f20503-6c24-4c16-946b-35dbbce2af2f";

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn adapter(kind: ProviderKind) -> Box<dyn ProviderAdapter> {
    adapter_for(kind, &AdapterSettings::default())
}

fn poll(
    kind: ProviderKind,
    http_status: u16,
    name: &str,
    task_type: TaskType,
) -> Result<Snapshot, UpstreamError> {
    adapter(kind).parse_poll(&WireAnswer::new(http_status, fixture(name)), task_type)
}

fn create(kind: ProviderKind, http_status: u16, name: &str) -> Result<String, UpstreamError> {
    adapter(kind).parse_create(&WireAnswer::new(http_status, fixture(name)))
}

fn utc(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn progress(value: f64) -> Option<Progress> {
    Some(Progress::new(value).unwrap())
}

fn video(url: &str) -> Output {
    Output::new(url, OutputKind::Video)
}

// --- seeds/000 and seeds/001: the feed request -------------------------------------------

#[test]
fn compat_poll_request_is_the_documented_feed_request() {
    let request =
        adapter(ProviderKind::CometapiCompat).poll_request("4156043d-9ea5-47c5-9e38-3f8446a0b20d");
    assert_eq!(request.method, reqwest::Method::POST);
    assert_eq!(request.path, "/runway/feed");
    assert_eq!(request.body, Some(fixture_json("compat_feed_request.json")));
}

#[test]
fn feed_request_body_alone_reads_as_an_empty_snapshot_not_an_error() {
    // A task id without any status: nothing is known, so the task keeps its state.
    let snap = poll(
        ProviderKind::CometapiCompat,
        200,
        "compat_feed_request.json",
        TaskType::TextToVideo,
    )
    .unwrap();
    assert_eq!(snap, Snapshot::default());
}

// --- seeds/002: the wrapped official poll ------------------------------------------------

#[test]
fn official_wrapped_poll_from_seed_is_queued_at_zero_progress() {
    let snap = poll(
        ProviderKind::CometapiOfficial,
        200,
        "official_poll_wrapped_queued.json",
        TaskType::ImageToVideo,
    )
    .unwrap();
    assert_eq!(
        snap,
        Snapshot {
            status: Some(TaskStatus::Queued),
            provider_status: "QUEUED".into(),
            progress: Some(Progress::ZERO),
            outputs: vec![],
            error: None,
            // start_time and finish_time are 0: "not yet".
            started_at: None,
            finished_at: None,
        }
    );
}

#[test]
fn official_poll_request_is_get_on_the_prefixed_task_route() {
    let request = adapter(ProviderKind::CometapiOfficial)
        .poll_request("3d957031-9a2a-45e2-9dc7-bc8513059c50");
    assert_eq!(request.method, reqwest::Method::GET);
    assert_eq!(
        request.path,
        "/runwayml/v1/tasks/3d957031-9a2a-45e2-9dc7-bc8513059c50"
    );
    assert_eq!(request.body, None);
}

// --- seeds/003: act_one create -----------------------------------------------------------

#[test]
fn compat_act_one_request_matches_the_documented_example() {
    let input = TaskInput::parse(
        TaskType::CharacterPerformance,
        &json!({
            "character_url": "https://db.xiaohuhd.com/1.jpeg",
            "reference_video_url": "https://runwaycdn.rixapi.com/attachments/video/runway/20241015/82bc23c83b5c32e75059c8328df5cffb.mp4"
        }),
    )
    .unwrap();
    let options = CreateOptions {
        callback_url: Some("https://example.com/webhook".into()),
    };
    let request = adapter(ProviderKind::CometapiCompat)
        .create_request(&input, &options)
        .unwrap();
    assert_eq!(request.method, reqwest::Method::POST);
    assert_eq!(request.path, "/runway/pro/act_one");
    assert_eq!(
        request.body,
        Some(fixture_json("compat_act_one_request.json"))
    );
}

#[test]
fn compat_create_answer_with_integer_code_gives_the_task_id() {
    let id = create(
        ProviderKind::CometapiCompat,
        200,
        "compat_create_answer_act_one.json",
    );
    assert_eq!(id.unwrap(), "196642a0-05e1-441a-981e-eb0c1f5d983b");
}

// --- seeds/004: makevid poll -------------------------------------------------------------

#[test]
fn makevid_succeeded_poll_reads_artifact_with_all_metadata() {
    let snap = poll(
        ProviderKind::Makevid,
        200,
        "makevid_poll_succeeded.json",
        TaskType::TextToVideo,
    )
    .unwrap();
    let expected_output = Output {
        url: "https://filesystem.site/cdn/20240909/PXM1k9NUg4paxT7eirUVfbHYiK5lsW.mp4".into(),
        preview_urls: vec![
            "https://filesystem.site/cdn/20240909/n0tdLRRqIqE3Hm1zNkPPuw4J1mpcmQ.jpg".into(),
            "https://filesystem.site/cdn/20240909/HeBbLtnDonVPeoaESgJ7Fl5nvzVTZ8.jpg".into(),
            "https://filesystem.site/cdn/20240909/FPt2dQEOBxMU8tk7x3LE8QAzK0gxUZ.jpg".into(),
            "https://filesystem.site/cdn/20240909/bO47PSLuGhIA23JDmQMiaG9xEqumNS.jpg".into(),
            "https://filesystem.site/cdn/20240909/R4RRzHVHERVhU6vhzSdOiOnoLYOj1n.jpg".into(),
        ],
        width: Some(1280),
        height: Some(768),
        duration_s: Some(10.542),
        fps: Some(24.0),
        size_bytes: Some(7_655_707),
        ..Output::new("", OutputKind::Video)
    };
    assert_eq!(
        snap,
        Snapshot {
            status: Some(TaskStatus::Succeeded),
            provider_status: "SUCCEEDED".into(),
            progress: Some(Progress::DONE),
            outputs: vec![expected_output],
            error: None,
            started_at: None,
            finished_at: Some(utc("2024-09-09T06:51:20.338Z")),
        }
    );
}

#[test]
fn makevid_poll_request_is_get_runway_by_id() {
    let request = adapter(ProviderKind::Makevid).poll_request("d110cdd2");
    assert_eq!(request.method, reqwest::Method::GET);
    assert_eq!(request.path, "/api/v1/get_runway/d110cdd2");
    assert_eq!(request.body, None);
}

#[test]
fn makevid_create_answer_with_server_id_gives_the_task_id() {
    let id = create(ProviderKind::Makevid, 200, "makevid_create_answer.json");
    assert_eq!(id.unwrap(), "2c8dec65-7882-494b-9365-d1418676cd62");
}

#[test]
fn makevid_create_answer_read_as_poll_is_queued_without_progress_or_outputs() {
    let snap = poll(
        ProviderKind::Makevid,
        200,
        "makevid_create_answer.json",
        TaskType::ImageToVideo,
    )
    .unwrap();
    assert_eq!(
        snap,
        Snapshot {
            status: Some(TaskStatus::Queued),
            provider_status: "PENDING".into(),
            ..Snapshot::default()
        }
    );
}

// --- providers.md §1: the feed, bare and wrapped -----------------------------------------

#[test]
fn compat_bare_feed_succeeded_collects_one_output_with_poster_and_times() {
    let snap = poll(
        ProviderKind::CometapiCompat,
        200,
        "compat_feed_bare_succeeded.json",
        TaskType::TextToVideo,
    )
    .unwrap();
    let mut output = video("https://cdn.example.com/runway/4156043d.mp4");
    output.preview_urls = vec!["https://cdn.example.com/runway/4156043d.jpg".into()];
    assert_eq!(
        snap,
        Snapshot {
            status: Some(TaskStatus::Succeeded),
            provider_status: "SUCCESS".into(),
            progress: Some(Progress::DONE),
            // result_url and data.video_url name the same file: one output.
            outputs: vec![output],
            error: None,
            started_at: Some(utc("2026-03-13T01:52:50Z")),
            finished_at: Some(utc("2026-03-13T01:53:50Z")),
        }
    );
}

#[test]
fn compat_wrapped_feed_is_queued_at_zero_progress() {
    let snap = poll(
        ProviderKind::CometapiCompat,
        200,
        "compat_feed_wrapped_queued.json",
        TaskType::ImageToVideo,
    )
    .unwrap();
    assert_eq!(
        snap,
        Snapshot {
            status: Some(TaskStatus::Queued),
            provider_status: "QUEUED".into(),
            progress: Some(Progress::ZERO),
            ..Snapshot::default()
        }
    );
}

#[test]
fn compat_wrapped_feed_failure_takes_nested_code_and_fail_reason() {
    let snap = poll(
        ProviderKind::CometapiCompat,
        200,
        "compat_feed_wrapped_failed.json",
        TaskType::ImageToVideo,
    )
    .unwrap();
    assert_eq!(
        snap,
        Snapshot {
            status: Some(TaskStatus::Failed),
            provider_status: "FAILURE".into(),
            progress: Some(Progress::DONE),
            outputs: vec![],
            error: Some(TaskError::new(
                "SAFETY.INPUT.TEXT",
                "The prompt was flagged by the content moderation system."
            )),
            started_at: Some(utc("2026-03-13T01:52:50Z")),
            finished_at: Some(utc("2026-03-13T01:53:10Z")),
        }
    );
}

#[test]
fn official_reads_the_wrapped_feed_shape_the_same_as_compat() {
    for name in [
        "compat_feed_wrapped_queued.json",
        "compat_feed_wrapped_failed.json",
        "compat_feed_bare_succeeded.json",
    ] {
        let compat = poll(
            ProviderKind::CometapiCompat,
            200,
            name,
            TaskType::ImageToVideo,
        );
        let official = poll(
            ProviderKind::CometapiOfficial,
            200,
            name,
            TaskType::ImageToVideo,
        );
        assert_eq!(compat, official, "{name}");
    }
}

// --- providers.md §3: the bare Runway task, each status ----------------------------------

fn runway_status_fixtures() -> Vec<(&'static str, Snapshot)> {
    let queued = |word: &str| Snapshot {
        status: Some(TaskStatus::Queued),
        provider_status: word.into(),
        ..Snapshot::default()
    };
    vec![
        ("runway_task_pending.json", queued("PENDING")),
        ("runway_task_throttled.json", queued("THROTTLED")),
        (
            "runway_task_running.json",
            Snapshot {
                status: Some(TaskStatus::Running),
                provider_status: "RUNNING".into(),
                progress: progress(0.45),
                ..Snapshot::default()
            },
        ),
        (
            "runway_task_succeeded.json",
            Snapshot {
                status: Some(TaskStatus::Succeeded),
                provider_status: "SUCCEEDED".into(),
                outputs: vec![video(
                    "https://dnznrvs05pmza.cloudfront.net/17f20503-6c24-4c16-946b-35dbbce2af2f.mp4?_jwt=abc",
                )],
                ..Snapshot::default()
            },
        ),
        (
            "runway_task_failed.json",
            Snapshot {
                status: Some(TaskStatus::Failed),
                provider_status: "FAILED".into(),
                error: Some(TaskError::new(
                    "SAFETY.INPUT.TEXT",
                    "The input text was flagged by our content moderation system.",
                )),
                ..Snapshot::default()
            },
        ),
        (
            "runway_task_cancelled.json",
            Snapshot {
                status: Some(TaskStatus::Canceled),
                provider_status: "CANCELLED".into(),
                ..Snapshot::default()
            },
        ),
    ]
}

#[test]
fn runway_bare_task_of_each_status_normalizes_per_the_table() {
    for (name, expected) in runway_status_fixtures() {
        let snap = poll(ProviderKind::Runway, 200, name, TaskType::ImageToVideo);
        assert_eq!(snap, Ok(expected), "{name}");
    }
}

#[test]
fn official_reads_the_bare_runway_task_of_each_status() {
    for (name, expected) in runway_status_fixtures() {
        let snap = poll(
            ProviderKind::CometapiOfficial,
            200,
            name,
            TaskType::ImageToVideo,
        );
        assert_eq!(snap, Ok(expected), "{name}");
    }
}

#[test]
fn runway_succeeded_output_of_text_to_image_is_an_image() {
    let snap = poll(
        ProviderKind::Runway,
        200,
        "runway_task_succeeded.json",
        TaskType::TextToImage,
    )
    .unwrap();
    let kinds: Vec<OutputKind> = snap.outputs.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, vec![OutputKind::Image]);
}

#[test]
fn runway_and_official_create_answer_gives_the_id() {
    for kind in [ProviderKind::Runway, ProviderKind::CometapiOfficial] {
        let id = create(kind, 200, "runway_create_answer.json");
        assert_eq!(id.as_deref(), Ok(RUNWAY_TASK_ID), "{kind:?}");
    }
}

// --- error bodies ------------------------------------------------------------------------

#[test]
fn task_not_exist_body_is_not_visible_yet_for_every_adapter() {
    for kind in ProviderKind::ALL {
        let err = poll(kind, 400, "task_not_exist.json", TaskType::ImageToVideo).unwrap_err();
        assert_eq!(err.class, FailureClass::NotVisibleYet, "{kind:?}");
        assert_eq!(err.http_status, Some(400), "{kind:?}");
        assert!(!err.certainly_not_created(), "{kind:?}");
    }
}

#[test]
fn task_not_exist_inside_a_200_is_not_visible_yet_for_comet_dialects() {
    for kind in [ProviderKind::CometapiCompat, ProviderKind::CometapiOfficial] {
        let err = poll(kind, 200, "task_not_exist.json", TaskType::ImageToVideo).unwrap_err();
        assert_eq!(err.class, FailureClass::NotVisibleYet, "{kind:?}");
    }
}

#[test]
fn runway_400_error_body_rejects_the_create_with_its_message() {
    let err = create(ProviderKind::Runway, 400, "runway_error_400.json").unwrap_err();
    assert_eq!(err.class, FailureClass::Rejected);
    assert_eq!(err.http_status, Some(400));
    assert_eq!(err.message, "Validation of body failed");
    assert!(!err.transient);
    assert!(!err.is_retryable());
    assert!(!err.certainly_not_created());
}

#[test]
fn runway_400_error_body_on_official_is_rejected_too() {
    let err = create(ProviderKind::CometapiOfficial, 400, "runway_error_400.json").unwrap_err();
    assert_eq!(err.class, FailureClass::Rejected);
    assert_eq!(err.message, "Validation of body failed");
}

#[test]
fn newapi_401_body_is_no_effect_not_transient_with_its_type_as_code() {
    for kind in ProviderKind::ALL {
        let err = create(kind, 401, "newapi_error_401.json").unwrap_err();
        assert_eq!(err.class, FailureClass::NoEffect, "{kind:?}");
        assert_eq!(err.http_status, Some(401), "{kind:?}");
        assert!(!err.transient, "{kind:?}");
        assert!(!err.is_retryable(), "{kind:?}");
        assert!(err.certainly_not_created(), "{kind:?}");
        assert_eq!(err.provider_code.as_deref(), Some("new_api_error"));
        assert!(err.message.starts_with("Invalid token"), "{}", err.message);
    }
}

#[test]
fn newapi_401_body_on_poll_is_no_effect() {
    for kind in ProviderKind::ALL {
        let err = poll(kind, 401, "newapi_error_401.json", TaskType::ImageToVideo).unwrap_err();
        assert_eq!(err.class, FailureClass::NoEffect, "{kind:?}");
        assert!(!err.transient, "{kind:?}");
    }
}

#[test]
fn every_fixture_is_valid_json() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            serde_json::from_slice::<Value>(&bytes).is_ok(),
            "{}",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 19, "fixtures missing: {count}");
}
