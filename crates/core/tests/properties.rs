//! Property tests: the parsers never panic on anything a provider may send, progress is
//! always within `[0, 1]`, and applying snapshots only ever moves a task forward.
// Helpers outside #[test] fns may unwrap too: a panic here is a failed test (clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Map, Number, Value};
use taskgate_core::{
    adapter_for, AdapterSettings, Output, OutputKind, Progress, ProviderKind, Snapshot, Task,
    TaskError, TaskStatus, TaskType, WireAnswer,
};

/// Field names the four dialects really use, so random objects hit the real read paths.
const KEYS: &[&str] = &[
    "status",
    "progress",
    "data",
    "task_id",
    "id",
    "result_url",
    "video_url",
    "poster",
    "output",
    "artifacts",
    "progressRatio",
    "progressText",
    "code",
    "message",
    "msg",
    "error",
    "task",
    "fail_reason",
    "failure",
    "failureCode",
    "start_time",
    "finish_time",
    "submit_time",
    "updatedAt",
    "createdAt",
    "url",
    "uri",
    "fileSize",
    "previewUrls",
    "metadata",
    "frameRate",
    "duration",
    "dimensions",
    "size",
    "width",
    "height",
    "server_id",
    "type",
];

const WORDS: &[&str] = &[
    "150%",
    "-5%",
    "NaN",
    "NaN%",
    "inf",
    "-inf",
    "1e400",
    "45%",
    " 45 % ",
    "0.45",
    "1",
    "0",
    "-1",
    "",
    "   ",
    "%",
    "NOT_START",
    "SUBMITTED",
    "QUEUED",
    "IN_PROGRESS",
    "SUCCESS",
    "FAILURE",
    "UNKNOWN",
    "PENDING",
    "THROTTLED",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "CANCELED",
    "ERROR",
    "succeeded",
    "task_not_exist",
    "success",
    "ok",
    "200",
    "400",
    "500",
    "7655707",
    "1773366766",
    "1773366766000",
    "99999999999999999999",
    "-9223372036854775808",
    "2026-03-13T09:52:46+08:00",
    "2024-09-09T06:51:20.338Z",
    "https://cdn.example.com/a.mp4",
    "https://cdn.example.com/a.jpg",
    "data:video/mp4;base64,AAAA",
    "é✓\u{0}",
];

fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            Number::from_f64(f).map(Value::Number)
        }),
        (-2.0f64..2.0).prop_map(|f| json!(f)),
        (0u32..200).prop_map(|n| json!(n)),
        prop::sample::select(vec![
            json!(0),
            json!(1),
            json!(-1),
            json!(0.45),
            json!(45),
            json!(150),
            json!(1e308),
            json!(-1e308),
            json!(f64::MIN_POSITIVE),
            json!(-0.0),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1_773_366_766),
            json!(1_773_366_766_000_i64),
        ]),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_string),
        1 => ".{0,12}",
        1 => "[0-9.%-]{0,8}",
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-z_]{1,6}",
    ]
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ]
}

/// Any JSON value, weighted towards objects keyed by real field names.
fn arb_json() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            3 => prop::collection::btree_map(arb_key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

const STATUS_WORDS: &[&str] = &[
    "NOT_START",
    "SUBMITTED",
    "QUEUED",
    "IN_PROGRESS",
    "SUCCESS",
    "FAILURE",
    "UNKNOWN",
    "PENDING",
    "THROTTLED",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "CANCELED",
    "ERROR",
    "running",
    "",
];

const URLS: &[&str] = &[
    "https://cdn.example.com/a.mp4",
    "https://cdn.example.com/b.mp4",
    "https://cdn.example.com/a.jpg",
    "",
    " ",
];

fn text_of(words: &'static [&'static str]) -> BoxedStrategy<Value> {
    prop::sample::select(words).prop_map(|w| json!(w)).boxed()
}

/// A value that field `key` plausibly holds, or now and then anything at all.
fn plausible(key: &'static str) -> BoxedStrategy<Value> {
    let url = text_of(URLS);
    let likely = match key {
        "status" => text_of(STATUS_WORDS),
        "progress" | "progressRatio" => prop_oneof![
            text_of(WORDS),
            arb_number(),
            (-20.0f64..200.0).prop_map(|f| json!(format!("{f}%"))),
            (-0.5f64..1.5).prop_map(|f| json!(f.to_string())),
        ]
        .boxed(),
        "result_url" | "video_url" | "poster" | "url" | "uri" => url,
        "output" | "previewUrls" => {
            prop::collection::vec(prop_oneof![4 => url, 1 => arb_leaf()], 0..4)
                .prop_map(Value::Array)
                .boxed()
        }
        "fileSize" | "frameRate" | "duration" | "start_time" | "finish_time" | "updatedAt" => {
            prop_oneof![arb_number(), text_of(WORDS)].boxed()
        }
        "dimensions" => prop::collection::vec(arb_number(), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        "size" => (arb_leaf(), arb_leaf())
            .prop_map(|(w, h)| json!({"width": w, "height": h}))
            .boxed(),
        _ => arb_leaf().boxed(),
    };
    prop_oneof![4 => likely, 1 => arb_json()].boxed()
}

/// An object with some of `keys`, each holding a plausible or an arbitrary value.
fn shaped(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<(String, Option<Value>)>> = keys
        .iter()
        .map(|&k| {
            prop::option::weighted(0.75, plausible(k))
                .prop_map(move |v| (k.to_string(), v))
                .boxed()
        })
        .collect();
    fields
        .prop_map(|pairs| {
            Value::Object(
                pairs
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k, v)))
                    .collect(),
            )
        })
        .boxed()
}

/// Poll answers in each documented shape, with plausible or arbitrary values in the fields.
fn arb_shaped_answer() -> BoxedStrategy<Value> {
    const RUNWAY: &[&str] = &[
        "id",
        "status",
        "progress",
        "output",
        "failure",
        "failureCode",
    ];
    const FEED: &[&str] = &[
        "task_id",
        "status",
        "progress",
        "result_url",
        "video_url",
        "fail_reason",
        "start_time",
        "finish_time",
        "data",
    ];
    const ARTIFACT: &[&str] = &["url", "fileSize", "previewUrls", "metadata"];
    const META: &[&str] = &["frameRate", "duration", "dimensions", "size"];
    const MAKEVID: &[&str] = &[
        "id",
        "status",
        "progressRatio",
        "progressText",
        "error",
        "updatedAt",
        "artifacts",
    ];
    let runway = shaped(RUNWAY);
    let nested = prop_oneof![
        runway.clone(),
        shaped(&["video_url", "poster", "status", "progress"])
    ];
    let feed = (shaped(FEED), nested).prop_map(|(mut feed, nested)| {
        if let Some(map) = feed.as_object_mut() {
            if let Some(d) = map.get_mut("data") {
                *d = nested;
            }
        }
        feed
    });
    let meta = shaped(META);
    let artifact = (shaped(ARTIFACT), meta).prop_map(|(mut a, meta)| {
        if let Some(map) = a.as_object_mut() {
            if let Some(m) = map.get_mut("metadata") {
                *m = meta;
            }
        }
        a
    });
    let makevid = (shaped(MAKEVID), prop::collection::vec(artifact, 0..3)).prop_map(
        |(mut task, artifacts)| {
            if let Some(map) = task.as_object_mut() {
                if let Some(a) = map.get_mut("artifacts") {
                    *a = Value::Array(artifacts);
                }
            }
            json!({ "task": task })
        },
    );
    let code = prop_oneof![
        Just(json!("success")),
        Just(json!(200)),
        Just(Value::Null),
        arb_leaf()
    ];
    let feed_for_wrap = feed.clone();
    prop_oneof![
        feed.boxed(),
        (code, feed_for_wrap)
            .prop_map(|(code, data)| json!({"code": code, "message": "", "data": data}))
            .boxed(),
        runway.boxed(),
        makevid.boxed(),
    ]
    .boxed()
}

fn arb_http_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => Just(200u16),
        1 => prop::sample::select(vec![201u16, 204, 400, 401, 404, 408, 422, 429, 500, 503]),
        1 => 100u16..600,
    ]
}

fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => arb_json().prop_map(|v| v.to_string().into_bytes()),
        3 => arb_shaped_answer().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn check_snapshot(snap: &Snapshot) -> Result<(), TestCaseError> {
    if let Some(p) = snap.progress {
        prop_assert!((0.0..=1.0).contains(&p.value()), "progress {}", p.value());
    }
    let mut seen = std::collections::HashSet::new();
    for output in &snap.outputs {
        prop_assert!(!output.url.is_empty());
        prop_assert!(seen.insert(output.url.clone()), "duplicate {}", output.url);
        for n in [output.duration_s, output.fps].into_iter().flatten() {
            prop_assert!(n.is_finite() && n > 0.0);
        }
    }
    if snap.status == Some(TaskStatus::Failed) {
        prop_assert!(snap.error.is_some());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_poll_never_panics_and_keeps_progress_in_range(
        status in arb_http_status(),
        body in arb_body(),
    ) {
        for kind in ProviderKind::ALL {
            let adapter = adapter_for(kind, &AdapterSettings::default());
            for task_type in TaskType::ALL {
                let answer = WireAnswer::new(status, body.clone());
                match adapter.parse_poll(&answer, task_type) {
                    Ok(snap) => {
                        prop_assert!(answer.is_success(), "{kind:?} read an HTTP {status}");
                        check_snapshot(&snap)?;
                        let kind_ok = snap.outputs.iter().all(|o| o.kind == task_type.output_kind());
                        prop_assert!(kind_ok);
                    }
                    Err(e) => prop_assert!(!e.message.is_empty()),
                }
            }
        }
    }

    #[test]
    fn parse_create_never_panics_and_any_id_is_non_empty(
        status in arb_http_status(),
        body in arb_body(),
    ) {
        for kind in ProviderKind::ALL {
            let adapter = adapter_for(kind, &AdapterSettings::default());
            let answer = WireAnswer::new(status, body.clone());
            if let Ok(id) = adapter.parse_create(&answer) {
                prop_assert!(answer.is_success(), "{kind:?} read an HTTP {status}");
                prop_assert!(!id.trim().is_empty());
            }
        }
    }

    #[test]
    fn progress_from_wire_is_within_unit_interval_or_none(value in arb_json()) {
        if let Some(p) = Progress::from_wire(&value) {
            prop_assert!((0.0..=1.0).contains(&p.value()), "{value} -> {}", p.value());
        }
    }

    #[test]
    fn progress_from_any_number_or_text_is_within_unit_interval(
        n in any::<f64>(),
        text in prop_oneof![arb_string(), any::<String>()],
    ) {
        for value in [json!(text), json!(format!("{n}")), json!(format!("{n}%"))] {
            if let Some(p) = Progress::from_wire(&value) {
                prop_assert!((0.0..=1.0).contains(&p.value()), "{value} -> {}", p.value());
            }
        }
        if let Some(number) = Number::from_f64(n) {
            if let Some(p) = Progress::from_wire(&Value::Number(number)) {
                prop_assert!((0.0..=1.0).contains(&p.value()));
            }
        }
    }

    #[test]
    fn applying_any_snapshots_only_moves_a_task_forward(
        snaps in prop::collection::vec(arb_snapshot(), 0..24),
    ) {
        check_task_life(TaskType::ImageToVideo, &snaps)?;
    }

    #[test]
    fn applying_parsed_answers_only_moves_a_task_forward(
        bodies in prop::collection::vec(arb_shaped_answer(), 1..10),
    ) {
        for kind in ProviderKind::ALL {
            let adapter = adapter_for(kind, &AdapterSettings::default());
            let snaps: Vec<Snapshot> = bodies
                .iter()
                .filter_map(|b| {
                    adapter
                        .parse_poll(&WireAnswer::new(200, b.to_string()), TaskType::TextToVideo)
                        .ok()
                })
                .collect();
            check_task_life(TaskType::TextToVideo, &snaps)?;
        }
    }
}

fn arb_status() -> impl Strategy<Value = Option<TaskStatus>> {
    prop_oneof![
        2 => Just(None),
        8 => prop::sample::select(TaskStatus::ALL.to_vec()).prop_map(Some),
    ]
}

fn arb_snapshot() -> impl Strategy<Value = Snapshot> {
    let output =
        (0u8..4).prop_map(|n| Output::new(format!("https://cdn/{n}.mp4"), OutputKind::Video));
    (
        arb_status(),
        prop::sample::select(WORDS),
        prop::option::of(-0.5f64..1.5),
        prop::collection::vec(output, 0..3),
        prop::option::of(Just(TaskError::new("X.Y", "boom"))),
        prop::option::of(0i64..10_000),
        prop::option::of(0i64..10_000),
    )
        .prop_map(|(status, word, progress, outputs, error, start, finish)| {
            let mut snap = Snapshot {
                status,
                provider_status: word.to_string(),
                progress: progress.and_then(Progress::clamped),
                error,
                started_at: start.map(at),
                finished_at: finish.map(at),
                ..Snapshot::default()
            };
            for o in outputs {
                snap.push_output(o);
            }
            snap
        })
}

fn at(offset_s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap() + Duration::seconds(offset_s)
}

fn rank(status: TaskStatus) -> u8 {
    match status {
        TaskStatus::Queued => 0,
        TaskStatus::Running => 1,
        _ => 2,
    }
}

fn check_task_life(task_type: TaskType, snaps: &[Snapshot]) -> Result<(), TestCaseError> {
    let mut task = Task::accepted(
        "task_1".into(),
        task_type,
        "p".into(),
        "u1".into(),
        Map::new(),
        at(0),
    );
    for (i, snap) in snaps.iter().enumerate() {
        let before = task.clone();
        let now = at(10 + i64::try_from(i).unwrap_or(0));
        let changed = task.apply(snap, now);
        prop_assert_eq!(
            changed,
            task != before,
            "apply must report a visible change"
        );
        if before.is_terminal() {
            prop_assert_eq!(&task, &before, "a terminal task never changes");
            continue;
        }
        prop_assert!(rank(task.status) >= rank(before.status), "status went back");
        match (before.progress, task.progress) {
            (Some(old), Some(new)) => {
                prop_assert!(new.value() >= old.value(), "progress went back")
            }
            (Some(_), None) => prop_assert!(false, "progress was lost"),
            _ => {}
        }
        if let Some(p) = task.progress {
            prop_assert!((0.0..=1.0).contains(&p.value()));
        }
        if task.status == TaskStatus::Succeeded {
            prop_assert_eq!(task.progress, Some(Progress::DONE));
        }
        if task.status == TaskStatus::Failed {
            prop_assert!(task.error.is_some());
        }
        if matches!(
            task.status,
            TaskStatus::Running | TaskStatus::Succeeded | TaskStatus::Failed
        ) {
            prop_assert!(task.started_at.is_some());
        }
        if before.started_at.is_some() {
            prop_assert_eq!(task.started_at, before.started_at, "the start never moves");
        }
        if task.is_terminal() {
            prop_assert!(task.finished_at.is_some());
        }
        prop_assert!(task.updated_at >= before.updated_at);
        prop_assert_eq!(task.created_at, before.created_at);
        prop_assert_eq!(&task.id, &before.id);
    }
    Ok(())
}
