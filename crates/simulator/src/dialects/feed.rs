//! CometAPI's task answer (new-api's task DTO), shared by the feed and the official poll.

use serde::Serialize;
use serde_json::Value;

use super::progress::{progress, Native};
use super::runway_object::{Clock, RunwayTask};
use super::View;
use crate::lifecycle::Phase;
use crate::script::OutputField;

/// `{task_id, action, status, fail_reason, result_url?, video_url?, submit_time, start_time,
/// finish_time, progress, data}`.
#[derive(Debug, Serialize)]
pub(crate) struct FeedTask<'a> {
    pub task_id: &'a str,
    pub action: &'static str,
    pub status: &'a str,
    pub fail_reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    pub submit_time: u64,
    pub start_time: u64,
    pub finish_time: u64,
    pub progress: Value,
    pub data: RunwayTask<'a>,
}

/// `{"code":"success","message":"","data":...}`.
#[derive(Debug, Serialize)]
pub(crate) struct Wrapped<T> {
    pub code: &'static str,
    pub message: &'static str,
    pub data: T,
}

impl<T> Wrapped<T> {
    pub(crate) fn success(data: T) -> Wrapped<T> {
        Wrapped {
            code: "success",
            message: "",
            data,
        }
    }
}

impl<'a> FeedTask<'a> {
    /// The answer for this view. `data` is Runway's task object, with its `output` only
    /// when `nested_output` (the official route relays Runway's object whole).
    pub(crate) fn new(view: &View<'a>, nested_output: bool) -> FeedTask<'a> {
        let task = view.task;
        let phase = view.snap.phase;
        let mut data = RunwayTask::new(view, Clock::Cst, nested_output);
        let url = (phase == Phase::Succeeded).then(|| task.output_url());
        let (mut result_url, mut video_url) = (None, None);
        match task.script.output_field {
            OutputField::ResultUrl => result_url = url,
            OutputField::VideoUrl => video_url = url,
            OutputField::Nested => {
                data.poster = url.as_ref().map(|_| task.preview_url(1));
                data.video_url = url;
            }
        }
        FeedTask {
            task_id: &task.id,
            action: task.action.word(),
            status: view.word(comet_word(phase)),
            fail_reason: view.failure().unwrap_or(""),
            result_url,
            video_url,
            submit_time: view.unix_s(Some(0)),
            start_time: view.unix_s(view.snap.start_ms),
            finish_time: view.unix_s(view.snap.finish_ms),
            progress: progress(Native::Percent, task.script.progress_form, phase),
            data,
        }
    }
}

/// new-api's task status words.
fn comet_word(phase: Phase) -> &'static str {
    match phase {
        Phase::NotVisible => "NOT_START",
        Phase::Submitted => "SUBMITTED",
        Phase::Queued => "QUEUED",
        Phase::Running(_) => "IN_PROGRESS",
        Phase::Succeeded => "SUCCESS",
        Phase::Failed | Phase::Cancelled => "FAILURE",
    }
}
