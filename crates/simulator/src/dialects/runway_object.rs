//! Runway's task object, as Runway answers it and as CometAPI nests or relays it.

use serde::Serialize;
use serde_json::Value;

use super::progress::{progress, Native};
use super::View;
use crate::lifecycle::Phase;

/// `{id, status, createdAt}` plus, by status, `progress`, `output`, `failure`/`failureCode`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunwayTask<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<&'a str>,
    /// CometAPI's nested output place (`output_field: nested`), in snake_case there.
    #[serde(rename = "video_url", skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poster: Option<String>,
}

/// How `createdAt` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    /// Runway: UTC with milliseconds.
    Utc,
    /// CometAPI: UTC+8 to the second.
    Cst,
}

impl<'a> RunwayTask<'a> {
    /// The object for this view; `output` only when `with_output`.
    pub(crate) fn new(view: &View<'a>, clock: Clock, with_output: bool) -> RunwayTask<'a> {
        let task = view.task;
        let phase = view.snap.phase;
        let progress = matches!(phase, Phase::Running(_))
            .then(|| progress(Native::Float, task.script.progress_form, phase));
        let failed = phase == Phase::Failed;
        RunwayTask {
            id: &task.id,
            status: view.runway_word(),
            created_at: match clock {
                Clock::Utc => task.iso_utc(0),
                Clock::Cst => task.iso_cst(0),
            },
            progress,
            output: (with_output && phase == Phase::Succeeded).then(|| vec![task.output_url()]),
            failure: if failed { view.failure() } else { None },
            failure_code: failed.then_some(task.script.failure_code.as_str()),
            video_url: None,
            poster: None,
        }
    }
}
