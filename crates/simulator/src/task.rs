//! One simulated task: what was asked, its script, and what happened to it since.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use uuid::Uuid;

use crate::faults::{FaultKind, FaultList};
use crate::lifecycle::{self, Ending, Forced, Snapshot};
use crate::provider::{Op, Provider};
use crate::script::Script;

/// What a task generates; gives the CometAPI `action` word and the output's file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    TextToVideo,
    ImageToVideo,
    VideoToVideo,
    ActOne,
    TextToImage,
    VideoUpscale,
    CharacterPerformance,
}

impl Action {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Action::TextToVideo => "TEXT_TO_VIDEO",
            Action::ImageToVideo => "IMAGE_TO_VIDEO",
            Action::VideoToVideo => "VIDEO_TO_VIDEO",
            Action::ActOne => "ACT_ONE",
            Action::TextToImage => "TEXT_TO_IMAGE",
            Action::VideoUpscale => "VIDEO_UPSCALE",
            Action::CharacterPerformance => "CHARACTER_PERFORMANCE",
        }
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            Action::TextToImage => "png",
            _ => "mp4",
        }
    }
}

/// What the simulator recorded about one task, as seen by tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The provider's wire name (`comet_compat`, `comet_official`, `runway`, `makevid`).
    pub provider: String,
    /// Polls of this id since create (including `task_not_exist` answers).
    pub polls: u64,
    /// When each of those polls arrived, in ms after the create, in arrival order.
    #[serde(default)]
    pub poll_times_ms: Vec<u64>,
    /// Cancel requests for this id.
    pub cancels: u64,
    /// The create body, without its `sim` object.
    pub body: serde_json::Value,
    /// The create request's headers, raw, in arrival order (names lower-case).
    pub headers: Vec<(String, String)>,
    /// When the create arrived, Unix ms.
    #[serde(default)]
    pub created_unix_ms: u64,
    /// When the task reached a terminal phase (by its script, a forced finish or a
    /// cancel), Unix ms, as of the moment this record was read; `None` while unfinished.
    #[serde(default)]
    pub finished_unix_ms: Option<u64>,
    /// GETs of this task's files (output and previews), whatever the answer.
    #[serde(default)]
    pub output_gets: u64,
    /// The same GETs by file, keyed by the URL's path after `/_sim/out/` (`{id}.mp4`,
    /// `{id}/1.jpg`).
    #[serde(default)]
    pub output_gets_by_file: BTreeMap<String, u64>,
    /// HEADs of this task's files, whatever the answer.
    #[serde(default)]
    pub output_heads: u64,
    /// GETs of this task's files whose body was produced to its last byte (handed to the
    /// connection; a client that hangs up before that leaves the count as it was).
    #[serde(default)]
    pub outputs_completed: u64,
}

impl TaskRecord {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A live task. Its state is computed from `born` on each read; nothing runs in between.
pub(crate) struct Task {
    pub id: String,
    pub uuid: Uuid,
    pub provider: Provider,
    pub action: Action,
    pub script: Arc<Script>,
    pub born: Instant,
    pub born_unix_ms: u64,
    pub body: serde_json::Value,
    pub headers: Vec<(String, String)>,
    /// Where its output URLs point (`http://127.0.0.1:PORT`).
    base: Arc<str>,
    polls: AtomicU64,
    poll_times_ms: Mutex<Vec<u64>>,
    cancels: AtomicU64,
    forced: Mutex<Option<Forced>>,
    faults: Option<Mutex<FaultList>>,
    downloads: Mutex<Downloads>,
}

/// What happened to a task's files.
#[derive(Default)]
struct Downloads {
    gets_by_file: BTreeMap<String, u64>,
    heads: u64,
    completed: u64,
}

impl Task {
    pub(crate) fn new(
        provider: Provider,
        action: Action,
        script: Arc<Script>,
        body: serde_json::Value,
        headers: Vec<(String, String)>,
        base: Arc<str>,
    ) -> Task {
        let faults = FaultList::new(&script.faults);
        let uuid = Uuid::new_v4();
        let born_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Task {
            id: uuid.to_string(),
            uuid,
            provider,
            action,
            script,
            born: Instant::now(),
            born_unix_ms,
            body,
            headers,
            base,
            polls: AtomicU64::new(0),
            poll_times_ms: Mutex::new(Vec::new()),
            cancels: AtomicU64::new(0),
            forced: Mutex::new(None),
            faults: (!faults.is_empty()).then(|| Mutex::new(faults)),
            downloads: Mutex::default(),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn forced(&self) -> Option<Forced> {
        *self.forced.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The task's state now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let window = self.provider.has_not_visible_window();
        lifecycle::snapshot(&self.script, window, self.elapsed_ms(), self.forced())
    }

    /// Ends the task now unless it has already ended; says whether it did.
    pub(crate) fn end(&self, ending: Ending) -> bool {
        let mut forced = self.forced.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.elapsed_ms();
        let window = self.provider.has_not_visible_window();
        if lifecycle::snapshot(&self.script, window, now, *forced)
            .phase
            .is_terminal()
        {
            return false;
        }
        *forced = Some(Forced { ending, at_ms: now });
        true
    }

    /// Unix seconds of a moment given in ms since create.
    pub(crate) fn unix_s(&self, offset_ms: u64) -> u64 {
        self.born_unix_ms.saturating_add(offset_ms) / 1000
    }

    /// ISO 8601 UTC with milliseconds (`2024-09-09T06:50:55.123Z`), as Runway and makevid.
    pub(crate) fn iso_utc(&self, offset_ms: u64) -> String {
        self.datetime(offset_ms)
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// ISO 8601 in UTC+8 to the second (`2026-03-13T09:52:46+08:00`), as CometAPI.
    pub(crate) fn iso_cst(&self, offset_ms: u64) -> String {
        let at = self.datetime(offset_ms);
        match FixedOffset::east_opt(8 * 3600) {
            Some(cst) => at
                .with_timezone(&cst)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            None => at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }

    fn datetime(&self, offset_ms: u64) -> DateTime<Utc> {
        let ms = i64::try_from(self.born_unix_ms.saturating_add(offset_ms)).unwrap_or(0);
        DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    /// The output file's name under `/_sim/out/`: `{id}.{ext}`.
    pub(crate) fn output_file(&self) -> String {
        format!("{}.{}", self.id, self.action.extension())
    }

    /// The n-th (from 1) preview image's name under `/_sim/out/`: `{id}/{n}.jpg`.
    pub(crate) fn preview_file(&self, n: u32) -> String {
        format!("{}/{n}.jpg", self.id)
    }

    /// The output URL, served by this simulator and stable for the task's life.
    pub(crate) fn output_url(&self) -> String {
        format!("{}/_sim/out/{}", self.base, self.output_file())
    }

    /// The n-th (from 1) preview image URL, served by this simulator.
    pub(crate) fn preview_url(&self, n: u32) -> String {
        format!("{}/_sim/out/{}", self.base, self.preview_file(n))
    }

    /// Counts a GET of one of its files; returns how many GETs of that file came before.
    pub(crate) fn count_output_get(&self, file: &str) -> u64 {
        let mut d = self.downloads.lock().unwrap_or_else(|e| e.into_inner());
        let gets = d.gets_by_file.entry(file.to_owned()).or_default();
        *gets += 1;
        *gets - 1
    }

    pub(crate) fn count_output_head(&self) {
        self.downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .heads += 1;
    }

    pub(crate) fn count_output_completed(&self) {
        self.downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .completed += 1;
    }

    pub(crate) fn count_poll(&self) {
        let at = self.elapsed_ms();
        self.poll_times_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(at);
        self.polls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_cancel(&self) {
        self.cancels.fetch_add(1, Ordering::Relaxed);
    }

    /// Uses one application of this task's own first matching fault rule.
    pub(crate) fn take_fault(&self, op: Op) -> Option<FaultKind> {
        let list = self.faults.as_ref()?;
        list.lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(self.provider, op)
    }

    pub(crate) fn record(&self) -> TaskRecord {
        let finished = self.snapshot().finish_ms;
        let downloads = self.downloads.lock().unwrap_or_else(|e| e.into_inner());
        TaskRecord {
            provider: self.provider.as_str().to_owned(),
            polls: self.polls.load(Ordering::Relaxed),
            poll_times_ms: self
                .poll_times_ms
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            cancels: self.cancels.load(Ordering::Relaxed),
            body: self.body.clone(),
            headers: self.headers.clone(),
            created_unix_ms: self.born_unix_ms,
            finished_unix_ms: finished.map(|ms| self.born_unix_ms.saturating_add(ms)),
            output_gets: downloads.gets_by_file.values().sum(),
            output_gets_by_file: downloads.gets_by_file.clone(),
            output_heads: downloads.heads,
            outputs_completed: downloads.completed,
        }
    }
}
