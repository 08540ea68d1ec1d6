//! Table tests, one row per provider quirk: status words, progress forms, output locations,
//! `code` as integer or string, and create-request building for every adapter and type.
// Helpers outside #[test] fns may unwrap too: a panic here is a failed test (clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use taskgate_core::providers::CannotRun;
use taskgate_core::{
    adapter_for, AdapterSettings, CreateOptions, FailureClass, InputError, Output, OutputKind,
    Progress, ProviderAdapter, ProviderKind, Snapshot, Task, TaskError, TaskInput, TaskStatus,
    TaskType, UpstreamError, WireAnswer, WireRequest,
};

fn adapter(kind: ProviderKind) -> Box<dyn ProviderAdapter> {
    adapter_for(kind, &AdapterSettings::default())
}

fn poll_json(
    kind: ProviderKind,
    http_status: u16,
    body: &Value,
    task_type: TaskType,
) -> Result<Snapshot, UpstreamError> {
    adapter(kind).parse_poll(&WireAnswer::new(http_status, body.to_string()), task_type)
}

fn poll_ok(kind: ProviderKind, body: &Value) -> Snapshot {
    poll_json(kind, 200, body, TaskType::ImageToVideo)
        .unwrap_or_else(|e| panic!("{kind:?} failed to read {body}: {e}"))
}

fn create_json(
    kind: ProviderKind,
    http_status: u16,
    body: &Value,
) -> Result<String, UpstreamError> {
    adapter(kind).parse_create(&WireAnswer::new(http_status, body.to_string()))
}

fn progress_of(snap: &Snapshot) -> Option<f64> {
    snap.progress.map(Progress::value)
}

/// A poll body in each dialect's main shape, with `fields` set on the task object.
fn shapes(kind: ProviderKind, fields: Value) -> Vec<(&'static str, Value)> {
    let mut task = json!({"task_id": "t-1"});
    let mut runway = json!({"id": "t-1"});
    merge(&mut task, &fields);
    merge(&mut runway, &fields);
    match kind {
        ProviderKind::CometapiCompat => vec![
            ("bare feed", task.clone()),
            (
                "wrapped feed",
                json!({"code": "success", "message": "", "data": task}),
            ),
        ],
        ProviderKind::CometapiOfficial => vec![
            (
                "wrapped feed",
                json!({"code": "success", "message": "", "data": task}),
            ),
            ("bare runway task", runway.clone()),
            (
                "wrapped runway task",
                json!({"code": "success", "message": "", "data": runway}),
            ),
        ],
        ProviderKind::Runway => vec![("runway task", runway)],
        ProviderKind::Makevid => {
            let mut mv = json!({"id": "t-1", "artifacts": []});
            let fields = rename(fields, "progress", "progressRatio");
            merge(&mut mv, &fields);
            vec![("makevid task", json!({ "task": mv }))]
        }
    }
}

fn merge(target: &mut Value, fields: &Value) {
    if let (Some(t), Some(f)) = (target.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            t.insert(k.clone(), v.clone());
        }
    }
}

fn rename(mut fields: Value, from: &str, to: &str) -> Value {
    if let Some(map) = fields.as_object_mut() {
        if let Some(v) = map.remove(from) {
            map.insert(to.to_string(), v);
        }
    }
    fields
}

// --- status words --------------------------------------------------------------------------

const COMET_WORDS: [(&str, Option<TaskStatus>); 8] = [
    ("NOT_START", Some(TaskStatus::Queued)),
    ("SUBMITTED", Some(TaskStatus::Queued)),
    ("QUEUED", Some(TaskStatus::Queued)),
    ("IN_PROGRESS", Some(TaskStatus::Running)),
    ("SUCCESS", Some(TaskStatus::Succeeded)),
    ("FAILURE", Some(TaskStatus::Failed)),
    ("UNKNOWN", None),
    ("", None),
];

const RUNWAY_WORDS: [(&str, Option<TaskStatus>); 11] = [
    ("PENDING", Some(TaskStatus::Queued)),
    ("THROTTLED", Some(TaskStatus::Queued)),
    ("RUNNING", Some(TaskStatus::Running)),
    ("SUCCEEDED", Some(TaskStatus::Succeeded)),
    ("FAILED", Some(TaskStatus::Failed)),
    ("CANCELLED", Some(TaskStatus::Canceled)),
    ("ERROR", Some(TaskStatus::Failed)),
    ("CANCELED", Some(TaskStatus::Canceled)),
    ("running", Some(TaskStatus::Running)),
    ("MYSTERY_NEW_STATE", None),
    ("", None),
];

fn assert_words(kind: ProviderKind, words: &[(&str, Option<TaskStatus>)]) {
    for (word, expected) in words {
        for (shape, body) in shapes(kind, json!({ "status": word })) {
            let snap = poll_ok(kind, &body);
            assert_eq!(snap.status, *expected, "{kind:?} {shape} {word:?}");
            assert_eq!(snap.provider_status, *word, "{kind:?} {shape} {word:?}");
        }
    }
}

#[test]
fn compat_maps_every_new_api_status_word() {
    assert_words(ProviderKind::CometapiCompat, &COMET_WORDS);
}

#[test]
fn official_maps_every_new_api_status_word() {
    let words: Vec<_> = COMET_WORDS.to_vec();
    for (word, expected) in words {
        let body = json!({"code": "success", "data": {"task_id": "t-1", "status": word}});
        let snap = poll_ok(ProviderKind::CometapiOfficial, &body);
        assert_eq!(snap.status, expected, "{word:?}");
        assert_eq!(snap.provider_status, word);
    }
}

#[test]
fn official_maps_every_runway_status_word_in_the_bare_task() {
    assert_words(ProviderKind::CometapiOfficial, &RUNWAY_WORDS);
}

#[test]
fn runway_maps_every_status_word() {
    assert_words(ProviderKind::Runway, &RUNWAY_WORDS);
}

#[test]
fn makevid_maps_every_status_word() {
    assert_words(ProviderKind::Makevid, &RUNWAY_WORDS);
}

#[test]
fn comet_unknown_outer_word_falls_back_to_nested_runway_word() {
    for kind in [ProviderKind::CometapiCompat, ProviderKind::CometapiOfficial] {
        let body = json!({"code": "success", "data": {
            "task_id": "t-1", "status": "UNKNOWN", "data": {"id": "t-1", "status": "RUNNING"}
        }});
        let snap = poll_ok(kind, &body);
        assert_eq!(snap.status, Some(TaskStatus::Running), "{kind:?}");
        assert_eq!(snap.provider_status, "UNKNOWN", "{kind:?}");
    }
}

#[test]
fn comet_missing_outer_word_reports_the_nested_word() {
    let body = json!({"task_id": "t-1", "data": {"id": "t-1", "status": "THROTTLED"}});
    let snap = poll_ok(ProviderKind::CometapiCompat, &body);
    assert_eq!(snap.status, Some(TaskStatus::Queued));
    assert_eq!(snap.provider_status, "THROTTLED");
}

#[test]
fn unknown_word_keeps_the_last_status_and_records_the_raw_word() {
    let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    for kind in ProviderKind::ALL {
        let running_word = match kind {
            ProviderKind::CometapiCompat => "IN_PROGRESS",
            _ => "RUNNING",
        };
        let running = poll_ok(kind, &shapes(kind, json!({"status": running_word}))[0].1);
        let unknown = poll_ok(kind, &shapes(kind, json!({"status": "BRAND_NEW"}))[0].1);
        let mut task = Task::accepted(
            "task_1".into(),
            TaskType::ImageToVideo,
            kind.as_str().into(),
            "t-1".into(),
            Default::default(),
            t0,
        );
        task.apply(&running, t0);
        task.apply(&unknown, t0);
        assert_eq!(task.status, TaskStatus::Running, "{kind:?}");
        assert_eq!(
            task.provider_status.as_deref(),
            Some("BRAND_NEW"),
            "{kind:?}"
        );
    }
}

#[test]
fn unknown_word_on_a_fresh_task_stays_queued() {
    let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    for kind in ProviderKind::ALL {
        let unknown = poll_ok(kind, &shapes(kind, json!({"status": "UNKNOWN"}))[0].1);
        let mut task = Task::accepted(
            "task_1".into(),
            TaskType::ImageToVideo,
            kind.as_str().into(),
            "t-1".into(),
            Default::default(),
            t0,
        );
        task.apply(&unknown, t0);
        assert_eq!(task.status, TaskStatus::Queued, "{kind:?}");
        assert_eq!(task.started_at, None, "{kind:?}");
    }
}

// --- progress forms ------------------------------------------------------------------------

fn progress_forms() -> Vec<(&'static str, Option<Value>, Option<f64>)> {
    vec![
        ("percent string", Some(json!("45%")), Some(0.45)),
        ("fraction string", Some(json!("0.45")), Some(0.45)),
        ("fraction number", Some(json!(0.45)), Some(0.45)),
        ("null", Some(Value::Null), None),
        ("missing", None, None),
        ("over 100 percent", Some(json!("150%")), Some(1.0)),
        ("negative one", Some(json!(-1)), Some(0.0)),
        ("zero percent", Some(json!("0%")), Some(0.0)),
        ("whole percent number", Some(json!(45)), Some(0.45)),
        ("word", Some(json!("soon")), None),
    ]
}

fn assert_progress_forms(kind: ProviderKind, running_word: &str) {
    for (form, value, expected) in progress_forms() {
        let mut fields = json!({ "status": running_word });
        if let Some(v) = value {
            merge(&mut fields, &json!({ "progress": v }));
        }
        for (shape, body) in shapes(kind, fields) {
            let snap = poll_ok(kind, &body);
            assert_eq!(progress_of(&snap), expected, "{kind:?} {shape} {form}");
            assert_eq!(snap.status, Some(TaskStatus::Running), "{kind:?} {shape}");
        }
    }
}

#[test]
fn compat_reads_every_progress_form() {
    assert_progress_forms(ProviderKind::CometapiCompat, "IN_PROGRESS");
}

#[test]
fn official_reads_every_progress_form() {
    assert_progress_forms(ProviderKind::CometapiOfficial, "RUNNING");
}

#[test]
fn runway_reads_every_progress_form() {
    assert_progress_forms(ProviderKind::Runway, "RUNNING");
}

#[test]
fn makevid_reads_every_progress_form_from_progress_ratio() {
    assert_progress_forms(ProviderKind::Makevid, "RUNNING");
}

#[test]
fn comet_progress_falls_back_to_nested_runway_progress() {
    let body = json!({"code": "success", "data": {
        "task_id": "t-1", "status": "IN_PROGRESS", "data": {"id": "t-1", "progress": 0.3}
    }});
    assert_eq!(
        progress_of(&poll_ok(ProviderKind::CometapiCompat, &body)),
        Some(0.3)
    );
}

#[test]
fn progress_never_goes_backwards_when_applied() {
    let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let mut task = Task::accepted(
        "task_1".into(),
        TaskType::ImageToVideo,
        "runway".into(),
        "t-1".into(),
        Default::default(),
        t0,
    );
    for (progress, expected) in [
        (json!(0.5), 0.5),
        (json!(0.2), 0.5),
        (Value::Null, 0.5),
        (json!(0.7), 0.7),
    ] {
        let snap = poll_ok(
            ProviderKind::Runway,
            &json!({"id": "t-1", "status": "RUNNING", "progress": progress}),
        );
        task.apply(&snap, t0);
        assert_eq!(task.progress.map(Progress::value), Some(expected));
    }
}

// --- output locations ----------------------------------------------------------------------

const A: &str = "https://cdn.example.com/a.mp4";
const B: &str = "https://cdn.example.com/b.mp4";
const POSTER: &str = "https://cdn.example.com/a.jpg";

fn urls(snap: &Snapshot) -> Vec<&str> {
    snap.outputs.iter().map(|o| o.url.as_str()).collect()
}

#[test]
fn comet_reads_outputs_from_every_location() {
    let rows = [
        (
            "result_url",
            json!({"status": "SUCCESS", "result_url": A}),
            vec![A],
        ),
        (
            "video_url",
            json!({"status": "SUCCESS", "video_url": A}),
            vec![A],
        ),
        (
            "nested video_url",
            json!({"status": "SUCCESS", "data": {"video_url": A, "poster": POSTER}}),
            vec![A],
        ),
        (
            "nested result_url",
            json!({"status": "SUCCESS", "data": {"result_url": A}}),
            vec![A],
        ),
        (
            "nested runway output",
            json!({"status": "SUCCESS", "data": {"id": "t-1", "output": [A, B]}}),
            vec![A, B],
        ),
        (
            "same url in every place",
            json!({"status": "SUCCESS", "result_url": A, "video_url": A,
                   "data": {"video_url": A, "output": [A]}}),
            vec![A],
        ),
        (
            "two different urls",
            json!({"status": "SUCCESS", "result_url": A, "data": {"video_url": B}}),
            vec![A, B],
        ),
        (
            "empty result_url",
            json!({"status": "SUCCESS", "result_url": ""}),
            vec![],
        ),
        (
            "null result_url",
            json!({"status": "SUCCESS", "result_url": null}),
            vec![],
        ),
    ];
    for kind in [ProviderKind::CometapiCompat, ProviderKind::CometapiOfficial] {
        for (row, fields, expected) in &rows {
            for (shape, body) in shapes(kind, fields.clone()) {
                if shape.contains("runway task") {
                    continue;
                }
                let snap = poll_ok(kind, &body);
                assert_eq!(urls(&snap), *expected, "{kind:?} {shape} {row}");
                assert!(
                    snap.outputs.iter().all(|o| o.kind == OutputKind::Video),
                    "{row}"
                );
            }
        }
    }
}

#[test]
fn comet_nested_poster_becomes_the_preview_of_each_output() {
    let body = json!({"task_id": "t-1", "status": "SUCCESS", "result_url": A,
                      "data": {"video_url": B, "poster": POSTER}});
    let snap = poll_ok(ProviderKind::CometapiCompat, &body);
    let mut a = Output::new(A, OutputKind::Video);
    a.preview_urls = vec![POSTER.into()];
    let mut b = Output::new(B, OutputKind::Video);
    b.preview_urls = vec![POSTER.into()];
    assert_eq!(snap.outputs, vec![a, b]);
}

#[test]
fn runway_reads_output_list_without_duplicates_or_junk() {
    let body = json!({"id": "t-1", "status": "SUCCEEDED",
                      "output": [A, A, "", 7, null, {"url": B}, {"uri": POSTER}]});
    for kind in [ProviderKind::Runway, ProviderKind::CometapiOfficial] {
        let snap = poll_ok(kind, &body);
        assert_eq!(urls(&snap), vec![A, B, POSTER], "{kind:?}");
    }
    let single = json!({"id": "t-1", "status": "SUCCEEDED", "output": A});
    assert_eq!(urls(&poll_ok(ProviderKind::Runway, &single)), vec![A]);
}

#[test]
fn runway_text_to_image_outputs_are_images() {
    let body = json!({"id": "t-1", "status": "SUCCEEDED", "output": ["https://x/i.png"]});
    let snap = poll_json(ProviderKind::Runway, 200, &body, TaskType::TextToImage).unwrap();
    assert_eq!(
        snap.outputs,
        vec![Output::new("https://x/i.png", OutputKind::Image)]
    );
}

#[test]
fn makevid_reads_artifacts_with_metadata_in_either_form() {
    let body = json!({"task": {"id": "t-1", "status": "SUCCEEDED", "progressRatio": "1",
    "updatedAt": "2024-09-09T06:51:20.338Z",
    "artifacts": [
        {"url": A, "fileSize": "1000", "previewUrls": [POSTER],
         "metadata": {"frameRate": 24, "duration": 5.0, "dimensions": [1280, 768]}},
        {"url": B, "fileSize": 2000,
         "metadata": {"frameRate": "30", "duration": "10.5", "size": {"width": 768, "height": 1280}}},
        {"url": A, "fileSize": "9"},
        {"id": "no-url"},
        {"url": "https://cdn.example.com/c.mp4", "fileSize": "big",
         "metadata": {"frameRate": -1, "duration": 0, "dimensions": [-5, "x"]}},
    ]}});
    let snap = poll_ok(ProviderKind::Makevid, &body);
    let first = Output {
        preview_urls: vec![POSTER.into()],
        width: Some(1280),
        height: Some(768),
        duration_s: Some(5.0),
        fps: Some(24.0),
        size_bytes: Some(1000),
        ..Output::new(A, OutputKind::Video)
    };
    let second = Output {
        width: Some(768),
        height: Some(1280),
        duration_s: Some(10.5),
        fps: Some(30.0),
        size_bytes: Some(2000),
        ..Output::new(B, OutputKind::Video)
    };
    let third = Output::new("https://cdn.example.com/c.mp4", OutputKind::Video);
    assert_eq!(snap.outputs, vec![first, second, third]);
    assert_eq!(
        snap.finished_at,
        Some(
            chrono::DateTime::parse_from_rfc3339("2024-09-09T06:51:20.338Z")
                .unwrap()
                .with_timezone(&Utc)
        )
    );
}

#[test]
fn makevid_failure_message_comes_from_error_then_progress_text() {
    let rows = [
        (
            json!({"status": "FAILED", "error": "moderation"}),
            "moderation",
        ),
        (
            json!({"status": "FAILED", "error": null, "progressText": "gpu lost"}),
            "gpu lost",
        ),
        (
            json!({"status": "ERROR"}),
            "the provider reported a failure",
        ),
    ];
    for (fields, message) in rows {
        let mut task = json!({"id": "t-1"});
        merge(&mut task, &fields);
        let snap = poll_ok(ProviderKind::Makevid, &json!({ "task": task }));
        assert_eq!(snap.status, Some(TaskStatus::Failed));
        assert_eq!(
            snap.error,
            Some(TaskError::new(TaskError::PROVIDER_FAILED, message))
        );
    }
}

#[test]
fn makevid_finish_time_is_set_only_when_terminal() {
    let running = json!({"task": {"id": "t-1", "status": "RUNNING",
                                 "updatedAt": "2024-09-09T06:51:20Z"}});
    assert_eq!(poll_ok(ProviderKind::Makevid, &running).finished_at, None);
}

#[test]
fn makevid_bare_task_without_wrapper_is_read() {
    let snap = poll_ok(
        ProviderKind::Makevid,
        &json!({"id": "t-1", "status": "RUNNING"}),
    );
    assert_eq!(snap.status, Some(TaskStatus::Running));
}

#[test]
fn runway_failure_without_code_is_provider_failed() {
    let snap = poll_ok(
        ProviderKind::Runway,
        &json!({"id": "t-1", "status": "FAILED"}),
    );
    assert_eq!(
        snap.error,
        Some(TaskError::new(
            TaskError::PROVIDER_FAILED,
            "the provider reported a failure"
        ))
    );
}

#[test]
fn comet_failure_reads_fail_reason_with_or_without_nested_code() {
    let rows = [
        (
            json!({"status": "FAILURE", "fail_reason": "bad prompt"}),
            TaskError::new(TaskError::PROVIDER_FAILED, "bad prompt"),
        ),
        (
            json!({"status": "FAILURE", "fail_reason": "bad prompt",
                   "data": {"failureCode": "INPUT.PROMPT", "failure": "inner"}}),
            TaskError::new("INPUT.PROMPT", "bad prompt"),
        ),
        (
            json!({"status": "FAILURE", "data": {"failureCode": "INPUT.PROMPT", "failure": "inner"}}),
            TaskError::new("INPUT.PROMPT", "inner"),
        ),
        (
            json!({"status": "FAILURE"}),
            TaskError::new(
                TaskError::PROVIDER_FAILED,
                "the provider reported a failure",
            ),
        ),
    ];
    for kind in [ProviderKind::CometapiCompat, ProviderKind::CometapiOfficial] {
        for (fields, expected) in &rows {
            let body =
                json!({"code": "success", "data": merged(json!({"task_id": "t-1"}), fields)});
            let snap = poll_ok(kind, &body);
            assert_eq!(snap.error.as_ref(), Some(expected), "{kind:?} {fields}");
        }
    }
}

fn merged(mut base: Value, fields: &Value) -> Value {
    merge(&mut base, fields);
    base
}

#[test]
fn comet_times_are_read_from_seconds_millis_and_text() {
    let rows = [
        (json!(1_773_366_766), Some("2026-03-13T01:52:46+00:00")),
        (
            json!(1_773_366_766_000_i64),
            Some("2026-03-13T01:52:46+00:00"),
        ),
        (
            json!("2026-03-13T09:52:46+08:00"),
            Some("2026-03-13T01:52:46+00:00"),
        ),
        (json!("1773366766"), Some("2026-03-13T01:52:46+00:00")),
        (json!(0), None),
        (json!(null), None),
        (json!("later"), None),
    ];
    for (value, expected) in rows {
        let body = json!({"task_id": "t-1", "status": "SUCCESS",
                          "start_time": value, "finish_time": value});
        let snap = poll_ok(ProviderKind::CometapiCompat, &body);
        let started = snap.started_at.map(|t| t.to_rfc3339());
        let finished = snap.finished_at.map(|t| t.to_rfc3339());
        assert_eq!(started.as_deref(), expected, "{value}");
        assert_eq!(finished.as_deref(), expected, "{value}");
    }
}

// --- `code` as an integer or a string ------------------------------------------------------

#[test]
fn compat_create_reads_the_id_whatever_type_code_has() {
    for code in [
        json!(200),
        json!("200"),
        json!("success"),
        json!(0),
        Value::Null,
    ] {
        let body = json!({"code": code, "message": "", "msg": "success",
                          "data": {"task_id": "abc-1"}});
        assert_eq!(
            create_json(ProviderKind::CometapiCompat, 200, &body).as_deref(),
            Ok("abc-1"),
            "{code}"
        );
    }
}

#[test]
fn create_id_is_found_in_every_documented_place() {
    let rows = [
        (
            ProviderKind::CometapiCompat,
            json!({"data": {"task_id": "x"}}),
        ),
        (ProviderKind::CometapiCompat, json!({"task_id": "x"})),
        (ProviderKind::CometapiCompat, json!({"data": {"id": "x"}})),
        (ProviderKind::CometapiOfficial, json!({"id": "x"})),
        (
            ProviderKind::CometapiOfficial,
            json!({"code": 200, "data": {"id": "x"}}),
        ),
        (
            ProviderKind::CometapiOfficial,
            json!({"code": "success", "data": {"task_id": "x"}}),
        ),
        (ProviderKind::Runway, json!({"id": "x"})),
        (
            ProviderKind::Makevid,
            json!({"task": {"id": "x"}, "server_id": "s"}),
        ),
        (ProviderKind::Makevid, json!({"id": "x"})),
    ];
    for (kind, body) in rows {
        assert_eq!(
            create_json(kind, 200, &body).as_deref(),
            Ok("x"),
            "{kind:?} {body}"
        );
    }
}

#[test]
fn create_without_an_id_is_a_bad_answer() {
    for kind in ProviderKind::ALL {
        for body in [
            json!({}),
            json!({"data": null}),
            json!([1, 2]),
            json!({"id": ""}),
        ] {
            let err = create_json(kind, 200, &body).unwrap_err();
            assert_eq!(err.class, FailureClass::BadAnswer, "{kind:?} {body}");
        }
        let err = adapter(kind)
            .parse_create(&WireAnswer::new(200, "<html>oops</html>"))
            .unwrap_err();
        assert_eq!(err.class, FailureClass::BadAnswer, "{kind:?}");
    }
}

#[test]
fn wrapper_error_code_inside_a_200_is_classified_whatever_its_type() {
    let rows = [
        (
            json!({"code": 500, "message": "busy"}),
            FailureClass::NoEffect,
            true,
        ),
        (
            json!({"code": "500", "message": "busy"}),
            FailureClass::NoEffect,
            true,
        ),
        (
            json!({"code": 429, "msg": "slow down"}),
            FailureClass::NoEffect,
            true,
        ),
        (
            json!({"code": 400, "message": "bad prompt"}),
            FailureClass::Rejected,
            false,
        ),
        (
            json!({"code": "400", "message": "bad prompt"}),
            FailureClass::Rejected,
            false,
        ),
        (
            json!({"code": 401, "message": "key"}),
            FailureClass::NoEffect,
            false,
        ),
        (
            json!({"code": "task_not_exist", "message": "task_not_exist"}),
            FailureClass::NotVisibleYet,
            false,
        ),
    ];
    for kind in [
        ProviderKind::CometapiCompat,
        ProviderKind::CometapiOfficial,
        ProviderKind::Makevid,
    ] {
        for (body, class, transient) in &rows {
            let err = create_json(kind, 200, body).unwrap_err();
            assert_eq!(
                (err.class, err.transient),
                (*class, *transient),
                "{kind:?} {body}"
            );
        }
    }
    for kind in [ProviderKind::CometapiCompat, ProviderKind::CometapiOfficial] {
        for (body, class, transient) in &rows {
            let err = poll_json(kind, 200, body, TaskType::ImageToVideo).unwrap_err();
            assert_eq!(
                (err.class, err.transient),
                (*class, *transient),
                "{kind:?} {body}"
            );
        }
    }
}

#[test]
fn makevid_error_wrapper_with_integer_code_is_rejected() {
    let body = json!({"error": "seconds must be 5 or 10", "code": 400});
    let err = create_json(ProviderKind::Makevid, 200, &body).unwrap_err();
    assert_eq!(err.class, FailureClass::Rejected);
    assert_eq!(err.message, "seconds must be 5 or 10");
    let err = create_json(ProviderKind::Makevid, 400, &body).unwrap_err();
    assert_eq!(err.class, FailureClass::Rejected);
    assert_eq!(
        err.provider_code, None,
        "a numeric code only repeats the status"
    );
}

#[test]
fn error_word_code_is_kept_and_numeric_code_dropped() {
    let rows = [
        (
            json!({"code": "quota_exceeded", "message": "no credit"}),
            Some("quota_exceeded"),
        ),
        (json!({"code": 403, "message": "no credit"}), None),
        (json!({"code": "403", "message": "no credit"}), None),
        (
            json!({"error": {"code": "invalid_key", "message": "bad"}}),
            Some("invalid_key"),
        ),
    ];
    for kind in ProviderKind::ALL {
        for (body, code) in &rows {
            let err = create_json(kind, 403, body).unwrap_err();
            assert_eq!(err.provider_code.as_deref(), *code, "{kind:?} {body}");
            assert_eq!(err.class, FailureClass::NoEffect);
        }
    }
}

#[test]
fn http_error_statuses_are_classified_for_create_and_poll() {
    let rows = [
        (400, FailureClass::Rejected, false),
        (422, FailureClass::Rejected, false),
        (401, FailureClass::NoEffect, false),
        (403, FailureClass::NoEffect, false),
        (405, FailureClass::NoEffect, false),
        (408, FailureClass::NoEffect, true),
        (409, FailureClass::NoEffect, true),
        (429, FailureClass::NoEffect, true),
        (500, FailureClass::NoEffect, true),
        (502, FailureClass::NoEffect, true),
        (503, FailureClass::NoEffect, true),
        (504, FailureClass::NoEffect, true),
    ];
    for kind in ProviderKind::ALL {
        for (status, class, transient) in rows {
            let body = json!({"error": "nope"});
            let err = create_json(kind, status, &body).unwrap_err();
            assert_eq!(
                (err.class, err.transient),
                (class, transient),
                "{kind:?} {status}"
            );
            assert_eq!(err.http_status, Some(status));
            let err = poll_json(kind, status, &body, TaskType::ImageToVideo).unwrap_err();
            assert_eq!(
                (err.class, err.transient),
                (class, transient),
                "{kind:?} {status}"
            );
        }
    }
}

#[test]
fn poll_404_means_not_visible_yet_but_create_404_does_not() {
    for kind in ProviderKind::ALL {
        let body = json!({"error": "Task not found"});
        let err = poll_json(kind, 404, &body, TaskType::ImageToVideo).unwrap_err();
        assert_eq!(err.class, FailureClass::NotVisibleYet, "{kind:?}");
        let err = create_json(kind, 404, &body).unwrap_err();
        assert_eq!(err.class, FailureClass::NoEffect, "{kind:?}");
    }
}

#[test]
fn poll_of_malformed_or_taskless_answer_is_bad_answer() {
    for kind in ProviderKind::ALL {
        for body in ["{", "<html>", "", "[]", "42", "\"SUCCEEDED\""] {
            let err = adapter(kind)
                .parse_poll(&WireAnswer::new(200, body), TaskType::ImageToVideo)
                .unwrap_err();
            assert_eq!(err.class, FailureClass::BadAnswer, "{kind:?} {body:?}");
        }
    }
}

#[test]
fn long_provider_messages_are_shortened() {
    let body = json!({"error": "x".repeat(5000)});
    let err = create_json(ProviderKind::Runway, 400, &body).unwrap_err();
    assert!(err.message.chars().count() <= 301, "{}", err.message.len());
}

// --- create requests -----------------------------------------------------------------------

fn input(task_type: TaskType, value: Value) -> TaskInput {
    TaskInput::parse(task_type, &value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn build(kind: ProviderKind, task_type: TaskType, value: Value) -> Result<WireRequest, InputError> {
    adapter(kind).create_request(&input(task_type, value), &CreateOptions::default())
}

fn build_ok(kind: ProviderKind, task_type: TaskType, value: Value) -> (String, Value) {
    let request = build(kind, task_type, value).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    assert_eq!(request.method, reqwest::Method::POST);
    (request.path, request.body.unwrap_or(Value::Null))
}

fn with_callback(
    kind: ProviderKind,
    task_type: TaskType,
    value: Value,
) -> Result<WireRequest, InputError> {
    let options = CreateOptions {
        callback_url: Some("https://gw.example.com/callbacks/p1".into()),
    };
    adapter(kind).create_request(&input(task_type, value), &options)
}

/// The smallest valid input of each type.
fn minimal(task_type: TaskType) -> Value {
    match task_type {
        TaskType::TextToVideo => json!({"prompt": "a fox in snow"}),
        TaskType::ImageToVideo => json!({"image_url": "https://a.example/i.png"}),
        TaskType::VideoToVideo => {
            json!({"video_url": "https://a.example/v.mp4", "prompt": "anime"})
        }
        TaskType::CharacterPerformance => json!({
            "character_url": "https://a.example/c.png",
            "reference_video_url": "https://a.example/r.mp4"
        }),
        TaskType::TextToImage => json!({"prompt": "a cat"}),
        TaskType::Upscale => json!({"video_url": "https://a.example/v.mp4"}),
    }
}

#[test]
fn every_adapter_builds_exactly_the_types_it_claims() {
    for kind in ProviderKind::ALL {
        let caps = kind.capabilities();
        for task_type in TaskType::ALL {
            let built = with_callback(kind, task_type, minimal(task_type));
            assert_eq!(
                built.is_ok(),
                caps.runs(task_type),
                "{kind:?} {task_type}: {built:?}"
            );
            if let Err(e) = built {
                assert_eq!(e.field, "type", "{kind:?} {task_type}");
            }
        }
    }
}

/// `ProviderKind::can_run` is what the adapters do: with a callback URL every claimed type
/// builds; without one exactly the callback types fail, with the refusal's own words.
#[test]
fn can_run_says_what_each_adapter_builds_with_and_without_a_callback() {
    for kind in ProviderKind::ALL {
        for task_type in TaskType::ALL {
            let runs = kind.capabilities().runs(task_type);
            assert_eq!(
                kind.can_run(task_type, true).is_ok(),
                runs,
                "{kind:?} {task_type}"
            );
            let without = build(kind, task_type, minimal(task_type));
            match kind.can_run(task_type, false) {
                Ok(()) => assert!(without.is_ok(), "{kind:?} {task_type}: {without:?}"),
                Err(why) => {
                    let e = without.unwrap_err();
                    assert_eq!(e.field, "type", "{kind:?} {task_type}");
                    assert_eq!(e.reason, why.describe(kind.as_str(), task_type));
                }
            }
        }
    }
}

#[test]
fn only_compat_character_performance_needs_a_callback_url() {
    let mut need = Vec::new();
    for kind in ProviderKind::ALL {
        for task_type in TaskType::ALL {
            if kind.can_run(task_type, false) == Err(CannotRun::NeedsCallbackUrl) {
                need.push((kind, task_type));
            }
        }
    }
    assert_eq!(
        need,
        [(ProviderKind::CometapiCompat, TaskType::CharacterPerformance)]
    );
    assert_eq!(
        CannotRun::NeedsCallbackUrl.describe("provider 'c'", TaskType::CharacterPerformance),
        "provider 'c' cannot run character_performance without server.public_url \
         (it needs a callback URL to create this type)"
    );
}

#[test]
fn only_runway_can_cancel_with_delete() {
    for kind in ProviderKind::ALL {
        let cancel = adapter(kind).cancel_request("t-1");
        assert_eq!(kind.capabilities().can_cancel, cancel.is_some(), "{kind:?}");
        if let Some(request) = cancel {
            assert_eq!(request.method, reqwest::Method::DELETE);
            assert_eq!(request.path, "/v1/tasks/t-1");
            assert_eq!(request.body, None);
        }
    }
}

#[test]
fn poll_requests_use_each_dialect_route() {
    let rows = [
        (
            ProviderKind::CometapiCompat,
            reqwest::Method::POST,
            "/runway/feed",
            Some(json!({"task_id": "t-1"})),
        ),
        (
            ProviderKind::CometapiOfficial,
            reqwest::Method::GET,
            "/runwayml/v1/tasks/t-1",
            None,
        ),
        (
            ProviderKind::Runway,
            reqwest::Method::GET,
            "/v1/tasks/t-1",
            None,
        ),
        (
            ProviderKind::Makevid,
            reqwest::Method::GET,
            "/api/v1/get_runway/t-1",
            None,
        ),
    ];
    for (kind, method, path, body) in rows {
        let request = adapter(kind).poll_request("t-1");
        assert_eq!(
            request,
            WireRequest {
                method,
                path: path.into(),
                body
            },
            "{kind:?}"
        );
    }
}

#[test]
fn headers_carry_runway_version_for_official_and_runway() {
    let default = AdapterSettings::default();
    let custom = AdapterSettings {
        runway_version: Some("2025-01-01".into()),
    };
    let version = |v: &str| vec![("X-Runway-Version", v.to_string())];
    let rows = [
        (
            ProviderKind::CometapiOfficial,
            &default,
            version("2024-11-06"),
        ),
        (ProviderKind::Runway, &default, version("2024-11-06")),
        (
            ProviderKind::CometapiOfficial,
            &custom,
            version("2025-01-01"),
        ),
        (ProviderKind::Runway, &custom, version("2025-01-01")),
        (ProviderKind::CometapiCompat, &default, vec![]),
        (ProviderKind::CometapiCompat, &custom, version("2025-01-01")),
        (ProviderKind::Makevid, &default, vec![]),
        (ProviderKind::Makevid, &custom, vec![]),
    ];
    for (kind, settings, expected) in rows {
        assert_eq!(adapter_for(kind, settings).headers(), expected, "{kind:?}");
    }
}

// cometapi_compat

#[test]
fn compat_text_to_video_keeps_the_aspect_and_fills_defaults() {
    let (path, body) = build_ok(
        ProviderKind::CometapiCompat,
        TaskType::TextToVideo,
        json!({"prompt": "a fox", "ratio": "9:16", "style": "cinematic", "seed": 7}),
    );
    assert_eq!(path, "/runway/pro/generate");
    assert_eq!(
        body,
        json!({"prompt": "a fox", "ratio": "9:16", "style": "cinematic", "model": "gen4",
               "seed": 7, "options": {"seconds": 5}})
    );
}

#[test]
fn compat_text_to_video_pixel_ratio_becomes_the_nearest_aspect() {
    let (_, body) = build_ok(
        ProviderKind::CometapiCompat,
        TaskType::TextToVideo,
        json!({"prompt": "a fox", "ratio": "1280:768"}),
    );
    assert_eq!(body["ratio"], json!("16:9"));
}

#[test]
fn compat_text_to_video_deep_merges_extra_into_options() {
    let (_, body) = build_ok(
        ProviderKind::CometapiCompat,
        TaskType::TextToVideo,
        json!({"prompt": "a fox", "duration_s": 10, "model": "gen3",
               "extra": {"options": {"motion_vector": {"x": 1, "y": 0}}, "watermark": false}}),
    );
    assert_eq!(
        body,
        json!({"prompt": "a fox", "model": "gen3", "watermark": false,
               "options": {"seconds": 10, "motion_vector": {"x": 1, "y": 0}}})
    );
}

#[test]
fn compat_extra_replaces_scalars_it_names() {
    let (_, body) = build_ok(
        ProviderKind::CometapiCompat,
        TaskType::TextToVideo,
        json!({"prompt": "a fox", "extra": {"model": "gen2", "options": {"seconds": 10}}}),
    );
    assert_eq!(body["model"], json!("gen2"));
    assert_eq!(body["options"], json!({"seconds": 10}));
}

#[test]
fn compat_image_to_video_takes_pixels_and_end_frame_flag() {
    let (path, body) = build_ok(
        ProviderKind::CometapiCompat,
        TaskType::ImageToVideo,
        json!({"image_url": "https://a.example/i.png", "ratio": "9:16", "duration_s": 10}),
    );
    assert_eq!(path, "/runway/pro/generate");
    assert_eq!(
        body,
        json!({"image": "https://a.example/i.png", "prompt": "", "ratio": "720:1280",
               "model": "gen4", "options": {"seconds": 10, "image_as_end_frame": false}})
    );
}

#[test]
fn compat_video_to_video_maps_strength_to_structure_transformation() {
    let (path, body) = build_ok(
        ProviderKind::CometapiCompat,
        TaskType::VideoToVideo,
        json!({"video_url": "https://a.example/v.mp4", "prompt": "anime", "strength": 0.25}),
    );
    assert_eq!(path, "/runway/pro/video2video");
    assert_eq!(
        body,
        json!({"video": "https://a.example/v.mp4", "prompt": "anime", "model": "gen4",
               "options": {"structure_transformation": 0.25}})
    );
}

#[test]
fn compat_character_performance_needs_a_callback_and_adds_it() {
    let err = build(
        ProviderKind::CometapiCompat,
        TaskType::CharacterPerformance,
        minimal(TaskType::CharacterPerformance),
    )
    .unwrap_err();
    assert_eq!(err.field, "type");
    assert!(err.reason.contains("server.public_url"), "{err}");
    let request = with_callback(
        ProviderKind::CometapiCompat,
        TaskType::CharacterPerformance,
        minimal(TaskType::CharacterPerformance),
    )
    .unwrap();
    assert_eq!(request.path, "/runway/pro/act_one");
    assert_eq!(
        request.body,
        Some(
            json!({"video": "https://a.example/r.mp4", "image": "https://a.example/c.png",
                    "callback_url": "https://gw.example.com/callbacks/p1"})
        )
    );
}

#[test]
fn compat_callback_url_is_sent_on_generate_too() {
    let request = with_callback(
        ProviderKind::CometapiCompat,
        TaskType::TextToVideo,
        minimal(TaskType::TextToVideo),
    )
    .unwrap();
    let body = request.body.unwrap_or_default();
    assert_eq!(
        body["callback_url"],
        json!("https://gw.example.com/callbacks/p1")
    );
}

#[test]
fn compat_rejects_fields_it_cannot_express() {
    let rows = [
        (
            TaskType::ImageToVideo,
            json!({"image_url": "https://a.example/i.png", "end_image_url": "https://a.example/e.png"}),
            "input.end_image_url",
        ),
        (
            TaskType::CharacterPerformance,
            json!({"character_url": "https://a.example/c.png",
                   "reference_video_url": "https://a.example/r.mp4", "model": "act_two"}),
            "input.model",
        ),
        (
            TaskType::CharacterPerformance,
            json!({"character_url": "https://a.example/c.png",
                   "reference_video_url": "https://a.example/r.mp4", "ratio": "16:9"}),
            "input.ratio",
        ),
        (
            TaskType::TextToImage,
            minimal(TaskType::TextToImage),
            "type",
        ),
        (TaskType::Upscale, minimal(TaskType::Upscale), "type"),
    ];
    for (task_type, value, field) in rows {
        let err = with_callback(ProviderKind::CometapiCompat, task_type, value).unwrap_err();
        assert_eq!(err.field, field, "{task_type}");
    }
}

// cometapi_official and runway: one body, two prefixes

const RUNWAY_DIALECTS: [(ProviderKind, &str); 2] = [
    (ProviderKind::Runway, ""),
    (ProviderKind::CometapiOfficial, "/runwayml"),
];

#[test]
fn runway_image_to_video_converts_aspect_to_video_pixels() {
    for (kind, prefix) in RUNWAY_DIALECTS {
        let (path, body) = build_ok(
            kind,
            TaskType::ImageToVideo,
            json!({"image_url": "https://a.example/i.png", "prompt": "fox", "ratio": "9:16",
                   "seed": 42}),
        );
        assert_eq!(path, format!("{prefix}/v1/image_to_video"));
        assert_eq!(
            body,
            json!({"promptImage": "https://a.example/i.png", "model": "gen4_turbo",
                   "promptText": "fox", "seed": 42, "duration": 5, "ratio": "720:1280"}),
            "{kind:?}"
        );
    }
}

#[test]
fn runway_image_to_video_defaults_ratio_and_passes_pixel_pairs() {
    for (kind, _) in RUNWAY_DIALECTS {
        let (_, body) = build_ok(
            kind,
            TaskType::ImageToVideo,
            minimal(TaskType::ImageToVideo),
        );
        assert_eq!(body["ratio"], json!("1280:720"));
        assert_eq!(body["duration"], json!(5));
        assert_eq!(body.get("promptText"), None);
        let (_, body) = build_ok(
            kind,
            TaskType::ImageToVideo,
            json!({"image_url": "https://a.example/i.png", "ratio": "1584:672", "duration_s": 10}),
        );
        assert_eq!(body["ratio"], json!("1584:672"));
        assert_eq!(body["duration"], json!(10));
    }
}

#[test]
fn runway_image_to_video_with_end_image_sends_first_and_last_frames() {
    for (kind, _) in RUNWAY_DIALECTS {
        let (_, body) = build_ok(
            kind,
            TaskType::ImageToVideo,
            json!({"image_url": "https://a.example/i.png", "end_image_url": "https://a.example/e.png"}),
        );
        assert_eq!(
            body["promptImage"],
            json!([{"uri": "https://a.example/i.png", "position": "first"},
                   {"uri": "https://a.example/e.png", "position": "last"}])
        );
    }
}

#[test]
fn runway_text_to_image_converts_aspect_to_image_pixels() {
    for (kind, prefix) in RUNWAY_DIALECTS {
        let (path, body) = build_ok(
            kind,
            TaskType::TextToImage,
            json!({"prompt": "a cat", "ratio": "9:16",
                   "reference_image_urls": ["https://a.example/r1.png", "https://a.example/r2.png"]}),
        );
        assert_eq!(path, format!("{prefix}/v1/text_to_image"));
        assert_eq!(
            body,
            json!({"promptText": "a cat", "model": "gen4_image", "ratio": "1080:1920",
                   "referenceImages": [{"uri": "https://a.example/r1.png"},
                                       {"uri": "https://a.example/r2.png"}]}),
            "{kind:?}"
        );
        let (_, body) = build_ok(kind, TaskType::TextToImage, minimal(TaskType::TextToImage));
        assert_eq!(
            body,
            json!({"promptText": "a cat", "model": "gen4_image", "ratio": "1920:1080"})
        );
    }
}

#[test]
fn runway_video_to_video_uses_aleph_and_refuses_strength() {
    for (kind, prefix) in RUNWAY_DIALECTS {
        let (path, body) = build_ok(
            kind,
            TaskType::VideoToVideo,
            json!({"video_url": "https://a.example/v.mp4", "prompt": "anime", "ratio": "9:16"}),
        );
        assert_eq!(path, format!("{prefix}/v1/video_to_video"));
        assert_eq!(
            body,
            json!({"videoUri": "https://a.example/v.mp4", "promptText": "anime",
                   "model": "gen4_aleph", "ratio": "720:1280"})
        );
        let err = build(
            kind,
            TaskType::VideoToVideo,
            json!({"video_url": "https://a.example/v.mp4", "prompt": "anime", "strength": 0.5}),
        )
        .unwrap_err();
        assert_eq!(err.field, "input.strength");
    }
}

#[test]
fn runway_upscale_goes_to_video_upscale() {
    for (kind, prefix) in RUNWAY_DIALECTS {
        let (path, body) = build_ok(kind, TaskType::Upscale, minimal(TaskType::Upscale));
        assert_eq!(path, format!("{prefix}/v1/video_upscale"));
        assert_eq!(
            body,
            json!({"videoUri": "https://a.example/v.mp4", "model": "upscale_v1"})
        );
    }
}

#[test]
fn runway_character_performance_types_the_character_by_extension() {
    for (kind, prefix) in RUNWAY_DIALECTS {
        let (path, body) = build_ok(
            kind,
            TaskType::CharacterPerformance,
            minimal(TaskType::CharacterPerformance),
        );
        assert_eq!(path, format!("{prefix}/v1/character_performance"));
        assert_eq!(
            body,
            json!({"model": "act_two",
                   "character": {"type": "image", "uri": "https://a.example/c.png"},
                   "reference": {"type": "video", "uri": "https://a.example/r.mp4"}})
        );
        let (_, body) = build_ok(
            kind,
            TaskType::CharacterPerformance,
            json!({"character_url": "https://a.example/c.MOV?sig=1",
                   "reference_video_url": "https://a.example/r.mp4", "ratio": "9:16"}),
        );
        assert_eq!(body["character"]["type"], json!("video"));
        assert_eq!(body["ratio"], json!("720:1280"));
    }
}

#[test]
fn runway_extra_is_deep_merged() {
    for (kind, _) in RUNWAY_DIALECTS {
        let (_, body) = build_ok(
            kind,
            TaskType::CharacterPerformance,
            json!({"character_url": "https://a.example/c.png",
                   "reference_video_url": "https://a.example/r.mp4",
                   "extra": {"bodyControl": true, "expressionIntensity": 3,
                             "character": {"type": "video"}}}),
        );
        assert_eq!(
            body,
            json!({"model": "act_two",
                   "character": {"type": "video", "uri": "https://a.example/c.png"},
                   "reference": {"type": "video", "uri": "https://a.example/r.mp4"},
                   "bodyControl": true, "expressionIntensity": 3})
        );
    }
}

#[test]
fn runway_dialects_cannot_run_text_to_video() {
    for (kind, _) in RUNWAY_DIALECTS {
        let err = build(kind, TaskType::TextToVideo, minimal(TaskType::TextToVideo)).unwrap_err();
        assert_eq!(err.field, "type");
    }
}

// makevid

#[test]
fn makevid_text_to_video_fills_seconds_and_enhance_prompt() {
    let (path, body) = build_ok(
        ProviderKind::Makevid,
        TaskType::TextToVideo,
        json!({"prompt": "a fox", "seed": 9, "model": "gen4_turbo"}),
    );
    assert_eq!(path, "/api/v1/create_runway");
    assert_eq!(
        body,
        json!({"seconds": 5, "text_prompt": "a fox", "seed": 9, "model": "gen4_turbo",
               "enhance_prompt": true})
    );
}

#[test]
fn makevid_image_to_video_sends_init_image() {
    let (path, body) = build_ok(
        ProviderKind::Makevid,
        TaskType::ImageToVideo,
        json!({"image_url": "https://a.example/i.png", "prompt": "zoom", "duration_s": 10,
               "extra": {"enhance_prompt": false}}),
    );
    assert_eq!(path, "/api/v1/create_runway");
    assert_eq!(
        body,
        json!({"seconds": 10, "text_prompt": "zoom", "init_image": "https://a.example/i.png",
               "image_as_end_frame": false, "enhance_prompt": false})
    );
}

#[test]
fn makevid_rejects_fields_it_cannot_express() {
    let rows = [
        (
            TaskType::TextToVideo,
            json!({"prompt": "x", "ratio": "9:16"}),
            "input.ratio",
        ),
        (
            TaskType::TextToVideo,
            json!({"prompt": "x", "style": "anime"}),
            "input.style",
        ),
        (
            TaskType::ImageToVideo,
            json!({"image_url": "https://a.example/i.png", "ratio": "16:9"}),
            "input.ratio",
        ),
        (
            TaskType::ImageToVideo,
            json!({"image_url": "https://a.example/i.png", "end_image_url": "https://a.example/e.png"}),
            "input.end_image_url",
        ),
        (
            TaskType::VideoToVideo,
            minimal(TaskType::VideoToVideo),
            "type",
        ),
        (
            TaskType::TextToImage,
            minimal(TaskType::TextToImage),
            "type",
        ),
        (TaskType::Upscale, minimal(TaskType::Upscale), "type"),
        (
            TaskType::CharacterPerformance,
            minimal(TaskType::CharacterPerformance),
            "type",
        ),
    ];
    for (task_type, value, field) in rows {
        let err = build(ProviderKind::Makevid, task_type, value).unwrap_err();
        assert_eq!(err.field, field, "{task_type}");
    }
}

// --- applying snapshots: times -------------------------------------------------------------

fn fresh_task() -> Task {
    Task::accepted(
        "task_1".into(),
        TaskType::ImageToVideo,
        "runway".into(),
        "t-1".into(),
        Default::default(),
        Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
    )
}

#[test]
fn task_canceled_while_queued_never_started() {
    let now = Utc.timestamp_opt(1_800_000_100, 0).unwrap();
    for body in [
        json!({"id": "t-1", "status": "CANCELLED"}),
        json!({"id": "t-1", "status": "CANCELED"}),
    ] {
        let mut task = fresh_task();
        task.apply(
            &poll_ok(
                ProviderKind::Runway,
                &json!({"id": "t-1", "status": "PENDING"}),
            ),
            now,
        );
        task.apply(&poll_ok(ProviderKind::Runway, &body), now);
        assert_eq!(task.status, TaskStatus::Canceled);
        assert_eq!(
            task.started_at, None,
            "a canceled queued task never started"
        );
        assert_eq!(task.finished_at, Some(now));
    }
}

#[test]
fn task_canceled_while_running_keeps_its_start() {
    let t1 = Utc.timestamp_opt(1_800_000_010, 0).unwrap();
    let t2 = Utc.timestamp_opt(1_800_000_020, 0).unwrap();
    let mut task = fresh_task();
    task.apply(
        &poll_ok(
            ProviderKind::Runway,
            &json!({"id": "t-1", "status": "RUNNING"}),
        ),
        t1,
    );
    task.apply(
        &poll_ok(
            ProviderKind::Runway,
            &json!({"id": "t-1", "status": "CANCELLED"}),
        ),
        t2,
    );
    assert_eq!((task.started_at, task.finished_at), (Some(t1), Some(t2)));
}

#[test]
fn task_succeeding_without_a_seen_start_takes_the_provider_times_or_now() {
    let now = Utc.timestamp_opt(1_800_000_100, 0).unwrap();
    let mut task = fresh_task();
    let body = json!({"task_id": "t-1", "status": "SUCCESS", "result_url": "https://x/a.mp4",
                      "start_time": 1_800_000_030, "finish_time": 1_800_000_090});
    task.apply(&poll_ok(ProviderKind::CometapiCompat, &body), now);
    assert_eq!(
        task.started_at,
        Some(Utc.timestamp_opt(1_800_000_030, 0).unwrap())
    );
    assert_eq!(
        task.finished_at,
        Some(Utc.timestamp_opt(1_800_000_090, 0).unwrap())
    );
    let mut task = fresh_task();
    task.apply(
        &poll_ok(
            ProviderKind::Runway,
            &json!({"id": "t-1", "status": "SUCCEEDED"}),
        ),
        now,
    );
    assert_eq!((task.started_at, task.finished_at), (Some(now), Some(now)));
    assert_eq!(task.progress, Some(Progress::DONE));
}
