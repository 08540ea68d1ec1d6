//! CometAPI's compatibility format: `/runway/pro/*` creates, `POST /runway/feed` polls.

use serde_json::{json, Map, Value};

use super::errors::{error_answer, json_body, wrapper_failure};
use super::merge::{merge_extra, put};
use super::passthrough::segments;
use super::runway_task::unsupported;
use super::{
    can_run, comet_envelope, CannotRun, Capabilities, CreateOptions, PassthroughRoute,
    ProviderAdapter, ProviderKind, WireAnswer, WireRequest,
};
use crate::input::{InputError, InputSpec, TaskInput};
use crate::ratio::RUNWAY_VIDEO_PIXELS;
use crate::snapshot::Snapshot;
use crate::task::TaskType;
use crate::upstream_error::UpstreamError;
use crate::wire;

const NAME: &str = "cometapi_compat";
const DEFAULT_MODEL: &str = "gen4";

pub(crate) struct CometCompat {
    runway_version: Option<String>,
}

impl CometCompat {
    pub(crate) fn new(runway_version: Option<String>) -> CometCompat {
        CometCompat { runway_version }
    }
}

impl ProviderAdapter for CometCompat {
    fn kind(&self) -> ProviderKind {
        ProviderKind::CometapiCompat
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            task_types: vec![
                TaskType::TextToVideo,
                TaskType::ImageToVideo,
                TaskType::VideoToVideo,
                TaskType::CharacterPerformance,
            ],
            can_cancel: false,
        }
    }

    /// `act_one` takes no task without a `callback_url`.
    fn callback_types(&self) -> &'static [TaskType] {
        &[TaskType::CharacterPerformance]
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        self.runway_version
            .iter()
            .map(|v| ("X-Runway-Version", v.clone()))
            .collect()
    }

    fn create_request(
        &self,
        input: &TaskInput,
        options: &CreateOptions,
    ) -> Result<WireRequest, InputError> {
        let task_type = input.task_type();
        can_run(self, task_type, options.callback_url.is_some())
            .map_err(|why| InputError::new("type", why.describe(NAME, task_type)))?;
        let mut body = Map::new();
        let mut opts = Map::new();
        let route = match &input.spec {
            InputSpec::TextToVideo(i) => {
                body.insert("prompt".into(), json!(i.prompt));
                put(&mut body, "ratio", i.ratio.map(|r| r.aspect().as_str()));
                put(&mut body, "style", i.style.clone());
                body.insert(
                    "model".into(),
                    json!(i.model.as_deref().unwrap_or(DEFAULT_MODEL)),
                );
                put(&mut body, "seed", i.seed);
                opts.insert("seconds".into(), json!(i.duration_s.unwrap_or(5)));
                "generate"
            }
            InputSpec::ImageToVideo(i) => {
                let (image, as_end_frame) = match (&i.end_image_url, i.prompt.is_some()) {
                    (None, _) => (&i.image_url, false),
                    (Some(_), _) => return Err(unsupported("end_image_url", NAME)),
                };
                body.insert("image".into(), json!(image));
                body.insert(
                    "prompt".into(),
                    json!(i.prompt.as_deref().unwrap_or_default()),
                );
                put(
                    &mut body,
                    "ratio",
                    i.ratio.map(|r| r.pixels(&RUNWAY_VIDEO_PIXELS)),
                );
                body.insert(
                    "model".into(),
                    json!(i.model.as_deref().unwrap_or(DEFAULT_MODEL)),
                );
                put(&mut body, "seed", i.seed);
                opts.insert("seconds".into(), json!(i.duration_s.unwrap_or(5)));
                opts.insert("image_as_end_frame".into(), json!(as_end_frame));
                "generate"
            }
            InputSpec::VideoToVideo(i) => {
                body.insert("video".into(), json!(i.video_url));
                body.insert("prompt".into(), json!(i.prompt));
                body.insert(
                    "model".into(),
                    json!(i.model.as_deref().unwrap_or(DEFAULT_MODEL)),
                );
                put(&mut body, "ratio", i.ratio.map(|r| r.aspect().as_str()));
                put(&mut body, "seed", i.seed);
                put(&mut opts, "structure_transformation", i.strength);
                "video2video"
            }
            InputSpec::CharacterPerformance(i) => {
                if i.model.is_some() {
                    return Err(unsupported("model", NAME));
                }
                if i.ratio.is_some() {
                    return Err(unsupported("ratio", NAME));
                }
                body.insert("video".into(), json!(i.reference_video_url));
                body.insert("image".into(), json!(i.character_url));
                put(&mut body, "seed", i.seed);
                "act_one"
            }
            InputSpec::TextToImage(_) | InputSpec::Upscale(_) => {
                return Err(InputError::new(
                    "type",
                    CannotRun::NotOffered.describe(NAME, task_type),
                ))
            }
        };
        if !opts.is_empty() {
            body.insert("options".into(), Value::Object(opts));
        }
        put(&mut body, "callback_url", options.callback_url.clone());
        let mut body = Value::Object(body);
        merge_extra(&mut body, &input.extra);
        Ok(WireRequest::post(format!("/runway/pro/{route}"), body))
    }

    fn parse_create(&self, answer: &WireAnswer) -> Result<String, UpstreamError> {
        if !answer.is_success() {
            return Err(error_answer(answer, false));
        }
        let body = json_body(answer)?;
        if let Some(failure) = wrapper_failure(&body) {
            return Err(failure);
        }
        [
            &["data", "task_id"][..],
            &["task_id"],
            &["data", "id"],
            &["id"],
        ]
        .iter()
        .find_map(|path| wire::text(wire::at(&body, path)))
        .ok_or_else(|| UpstreamError::bad_answer("create answer holds no task id"))
    }

    fn poll_request(&self, provider_task_id: &str) -> WireRequest {
        WireRequest::post("/runway/feed", json!({"task_id": provider_task_id}))
    }

    fn passthrough_route(&self, method: &reqwest::Method, path: &str) -> PassthroughRoute {
        if method != reqwest::Method::POST {
            return PassthroughRoute::Account;
        }
        let segments = segments(path).unwrap_or_default();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["runway", "pro", _] => PassthroughRoute::Create,
            ["runway", "feed"] => PassthroughRoute::TaskInBody("task_id"),
            _ => PassthroughRoute::Account,
        }
    }

    fn parse_poll(
        &self,
        answer: &WireAnswer,
        task_type: TaskType,
    ) -> Result<Snapshot, UpstreamError> {
        comet_envelope::parse_poll(answer, task_type)
    }
}
