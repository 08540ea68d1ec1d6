//! makevid: `POST /api/v1/create_runway`, `GET /api/v1/get_runway/{id}`, artifacts with metadata.

use serde_json::{json, Map, Value};

use super::errors::{error_answer, json_body, wrapper_failure};
use super::merge::{merge_extra, put};
use super::passthrough::{is_read, segments};
use super::runway_task::unsupported;
use super::{
    Capabilities, CreateOptions, PassthroughRoute, ProviderAdapter, ProviderKind, WireAnswer,
    WireRequest,
};
use crate::input::{InputError, InputSpec, TaskInput};
use crate::progress::Progress;
use crate::snapshot::{status_from_word, Snapshot};
use crate::task::{Output, TaskError, TaskStatus, TaskType};
use crate::upstream_error::UpstreamError;
use crate::wire;

const NAME: &str = "makevid";

pub(crate) struct Makevid;

impl ProviderAdapter for Makevid {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Makevid
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            task_types: vec![TaskType::TextToVideo, TaskType::ImageToVideo],
            can_cancel: false,
        }
    }

    fn create_request(
        &self,
        input: &TaskInput,
        _options: &CreateOptions,
    ) -> Result<WireRequest, InputError> {
        let mut body = Map::new();
        match &input.spec {
            InputSpec::TextToVideo(i) => {
                if i.ratio.is_some() {
                    return Err(unsupported("ratio", NAME));
                }
                if i.style.is_some() {
                    return Err(unsupported("style", NAME));
                }
                body.insert("seconds".into(), json!(i.duration_s.unwrap_or(5)));
                body.insert("text_prompt".into(), json!(i.prompt));
                put(&mut body, "seed", i.seed);
                put(&mut body, "model", i.model.clone());
            }
            InputSpec::ImageToVideo(i) => {
                if i.ratio.is_some() {
                    return Err(unsupported("ratio", NAME));
                }
                if i.end_image_url.is_some() {
                    return Err(unsupported("end_image_url", NAME));
                }
                body.insert("seconds".into(), json!(i.duration_s.unwrap_or(5)));
                put(&mut body, "text_prompt", i.prompt.clone());
                body.insert("init_image".into(), json!(i.image_url));
                body.insert("image_as_end_frame".into(), json!(false));
                put(&mut body, "seed", i.seed);
                put(&mut body, "model", i.model.clone());
            }
            _ => {
                return Err(InputError::new(
                    "type",
                    format!("{NAME} cannot run {}", input.task_type()),
                ))
            }
        }
        body.insert("enhance_prompt".into(), json!(true));
        let mut body = Value::Object(body);
        merge_extra(&mut body, &input.extra);
        Ok(WireRequest::post("/api/v1/create_runway", body))
    }

    fn parse_create(&self, answer: &WireAnswer) -> Result<String, UpstreamError> {
        if !answer.is_success() {
            return Err(error_answer(answer, false));
        }
        let body = json_body(answer)?;
        if let Some(failure) = wrapper_failure(&body) {
            return Err(failure);
        }
        [&["task", "id"][..], &["id"], &["data", "id"]]
            .iter()
            .find_map(|path| wire::text(wire::at(&body, path)))
            .ok_or_else(|| UpstreamError::bad_answer("create answer holds no task id"))
    }

    fn poll_request(&self, provider_task_id: &str) -> WireRequest {
        WireRequest::get(format!("/api/v1/get_runway/{provider_task_id}"))
    }

    fn passthrough_route(&self, method: &reqwest::Method, path: &str) -> PassthroughRoute {
        let segments = segments(path).unwrap_or_default();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["api", "v1", "create_runway"] if method == reqwest::Method::POST => {
                PassthroughRoute::Create
            }
            ["api", "v1", "get_runway", id] if is_read(method) => {
                PassthroughRoute::Task((*id).to_string())
            }
            _ => PassthroughRoute::Account,
        }
    }

    fn parse_poll(
        &self,
        answer: &WireAnswer,
        task_type: TaskType,
    ) -> Result<Snapshot, UpstreamError> {
        if !answer.is_success() {
            return Err(error_answer(answer, true));
        }
        let body = json_body(answer)?;
        let task = match body.get("task") {
            Some(t @ Value::Object(_)) => t,
            _ if body.get("status").is_some() => &body,
            _ => return Err(UpstreamError::bad_answer("poll answer holds no task")),
        };
        Ok(snapshot(task, task_type))
    }
}

fn snapshot(task: &Value, task_type: TaskType) -> Snapshot {
    let word = wire::text(task.get("status")).unwrap_or_default();
    let status = status_from_word(&word);
    let mut snap = Snapshot {
        status,
        provider_status: word,
        progress: task.get("progressRatio").and_then(Progress::from_wire),
        ..Snapshot::default()
    };
    if let Some(Value::Array(artifacts)) = task.get("artifacts") {
        for artifact in artifacts {
            if let Some(output) = artifact_output(artifact, task_type) {
                snap.push_output(output);
            }
        }
    }
    if status.is_some_and(TaskStatus::is_terminal) {
        snap.finished_at = wire::time(task.get("updatedAt"));
    }
    if status == Some(TaskStatus::Failed) {
        snap.error = Some(TaskError::new(
            TaskError::PROVIDER_FAILED,
            wire::text(task.get("error"))
                .or_else(|| wire::text(task.get("progressText")))
                .unwrap_or_else(|| "the provider reported a failure".into()),
        ));
    }
    snap
}

fn artifact_output(artifact: &Value, task_type: TaskType) -> Option<Output> {
    let mut output = Output::new(wire::text(artifact.get("url"))?, task_type.output_kind());
    output.preview_urls = wire::urls(artifact.get("previewUrls"));
    output.size_bytes = wire::count(artifact.get("fileSize"));
    let meta = artifact.get("metadata");
    let meta_field = |path: &[&str]| meta.and_then(|m| wire::at(m, path));
    let dimension = |i: usize| meta_field(&["dimensions"]).and_then(|d| d.get(i));
    let side = |v: Option<&Value>| wire::count(v).and_then(|n| u32::try_from(n).ok());
    output.width = side(meta_field(&["size", "width"])).or_else(|| side(dimension(0)));
    output.height = side(meta_field(&["size", "height"])).or_else(|| side(dimension(1)));
    output.duration_s = wire::positive(meta_field(&["duration"]));
    output.fps = wire::positive(meta_field(&["frameRate"]));
    Some(output)
}
