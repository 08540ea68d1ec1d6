//! CometAPI's task envelope, shared by the feed (compatibility format) and the official
//! poll: `{"code":"success","data":{task_id, status, progress, fail_reason, ..., data:{...}}}`
//! or the inner object bare.

use serde_json::Value;

use super::errors::{error_answer, json_body, wrapper_failure};
use super::runway_task;
use super::WireAnswer;
use crate::progress::Progress;
use crate::snapshot::{status_from_word, Snapshot};
use crate::task::{Output, TaskError, TaskStatus, TaskType};
use crate::upstream_error::UpstreamError;
use crate::wire;

/// The inner task object: the body itself when it is bare (has `status` or `task_id`),
/// else its `data`.
fn inner(body: &Value) -> Option<&Value> {
    let is_task = |v: &Value| v.get("status").is_some() || v.get("task_id").is_some();
    if is_task(body) {
        return Some(body);
    }
    body.get("data").filter(|d| d.is_object())
}

/// True when `v` looks like a Runway task object rather than CometAPI's envelope.
fn is_runway_task(v: &Value) -> bool {
    v.get("id").is_some() && v.get("task_id").is_none() && v.get("submit_time").is_none()
}

/// Reads any documented poll answer of either CometAPI dialect.
pub(crate) fn parse_poll(
    answer: &WireAnswer,
    task_type: TaskType,
) -> Result<Snapshot, UpstreamError> {
    if !answer.is_success() {
        return Err(error_answer(answer, true));
    }
    let body = json_body(answer)?;
    if let Some(failure) = wrapper_failure(&body) {
        return Err(failure);
    }
    let task =
        inner(&body).ok_or_else(|| UpstreamError::bad_answer("poll answer holds no task"))?;
    if is_runway_task(task) {
        return Ok(runway_task::snapshot(task, task_type));
    }
    Ok(envelope_snapshot(task, task_type))
}

fn envelope_snapshot(task: &Value, task_type: TaskType) -> Snapshot {
    let nested = task.get("data").filter(|d| d.is_object());
    let nested_field = |key: &str| nested.and_then(|n| n.get(key));
    let outer_word = wire::text(task.get("status"));
    let nested_word = wire::text(nested_field("status"));
    // The envelope's word is CometAPI's; when it is unknown the nested Runway word may know.
    let status = outer_word
        .as_deref()
        .and_then(status_from_word)
        .or_else(|| nested_word.as_deref().and_then(status_from_word));
    let mut snap = Snapshot {
        status,
        provider_status: outer_word.or(nested_word).unwrap_or_default(),
        progress: task
            .get("progress")
            .and_then(Progress::from_wire)
            .or_else(|| nested_field("progress").and_then(Progress::from_wire)),
        started_at: wire::time(task.get("start_time")),
        finished_at: wire::time(task.get("finish_time")),
        ..Snapshot::default()
    };
    let kind = task_type.output_kind();
    let poster = wire::text(nested_field("poster"));
    for url in [
        wire::text(task.get("result_url")),
        wire::text(task.get("video_url")),
        wire::text(nested_field("video_url")),
        wire::text(nested_field("result_url")),
    ]
    .into_iter()
    .flatten()
    {
        let mut output = Output::new(url, kind);
        output.preview_urls.extend(poster.clone());
        snap.push_output(output);
    }
    if let Some(n) = nested {
        runway_task::add_outputs(&mut snap, n, task_type);
    }
    if snap.status == Some(TaskStatus::Failed) {
        let nested_failure = nested.map(runway_task::failure);
        let reason = wire::text(task.get("fail_reason"));
        snap.error = Some(match (nested_failure, reason) {
            (Some(f), Some(reason)) => TaskError::new(f.code, reason),
            (Some(f), None) => f,
            (None, reason) => TaskError::new(
                TaskError::PROVIDER_FAILED,
                reason.unwrap_or_else(|| "the provider reported a failure".into()),
            ),
        });
    }
    snap
}
