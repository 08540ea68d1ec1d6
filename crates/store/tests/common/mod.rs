//! Fixtures shared by the store tests.
#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use taskgate_core::{Output, OutputKind, Progress, Task, TaskError, TaskStatus, TaskType};
use taskgate_store::TaskRecord;

pub mod postgres;

pub const TENANT: &str = "acme";
pub const OTHER_TENANT: &str = "globex";

/// A fixed instant with nanoseconds, so any precision loss shows.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 123_456_789).unwrap()
}

pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(seconds)
}

/// A queued task created at `created_at`.
pub fn queued(id: &str, created_at: DateTime<Utc>) -> Task {
    Task::accepted(
        id.to_owned(),
        TaskType::TextToVideo,
        "makevid".to_owned(),
        format!("up-{id}"),
        Map::new(),
        created_at,
    )
}

pub fn record(tenant: &str, id: &str, created_at: DateTime<Utc>) -> TaskRecord {
    TaskRecord::new(tenant.to_owned(), queued(id, created_at), None)
}

/// `record`, with `status` (a terminal status also ends watching, as the gateway does).
pub fn record_with_status(
    tenant: &str,
    id: &str,
    created_at: DateTime<Utc>,
    status: TaskStatus,
) -> TaskRecord {
    let mut task = queued(id, created_at);
    task.status = status;
    TaskRecord::new(tenant.to_owned(), task, None)
}

/// A task with every field set, awkward values included.
pub fn full_task(id: &str) -> Task {
    let mut output = Output::new(
        "https://cdn.example/v/1.mp4?sig=a%2Fb&x=1",
        OutputKind::Video,
    );
    output.preview_urls = vec!["https://cdn.example/p/1.jpg".to_owned()];
    output.width = Some(1280);
    output.height = Some(768);
    output.duration_s = Some(10.542);
    output.fps = Some(23.976_023_976_023_978);
    output.size_bytes = Some(u64::MAX);
    let metadata = match json!({
        "order": "A-17",
        "n": 0.1,
        "big": 12_345_678_901_234_567_u64,
        "neg": -3,
        "nested": {"list": [1, "two", null, true, {"é": "ünïcødé \"quoted\" \n"}]},
    }) {
        Value::Object(map) => map,
        _ => unreachable!(),
    };
    Task {
        id: id.to_owned(),
        object: Default::default(),
        task_type: TaskType::ImageToVideo,
        status: TaskStatus::Failed,
        progress: Progress::new(0.333_333_333_333_333_3),
        provider: Some("comet-official".to_owned()),
        provider_task_id: Some("3d957031-9a2a-45e2-9dc7-bc8513059c50".to_owned()),
        provider_status: Some("FAILURE".to_owned()),
        outputs: vec![
            output,
            Output::new("https://cdn.example/i.png", OutputKind::Image),
        ],
        error: Some(TaskError::new("content_policy", "blocked: \"nsfw\"")),
        metadata,
        created_at: t0(),
        started_at: Some(t0() + TimeDelta::nanoseconds(3_000_000_001)),
        finished_at: Some(t0() + TimeDelta::nanoseconds(9_999_999_999)),
        updated_at: t0() + TimeDelta::nanoseconds(10_000_000_007),
        queue: None,
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "taskgate-store-{name}-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
