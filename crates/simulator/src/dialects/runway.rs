//! Runway's own API (`/v1/*`), and the request checks CometAPI's official format shares.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::{Map, Value};

use super::runway_object::{Clock, RunwayTask};
use super::{pipeline, require_runway_version, require_strs, Dialect, View};
use crate::answer;
use crate::error::SimError;
use crate::provider::{Op, Provider};
use crate::state::SimState;
use crate::task::{Action, Task};

pub(super) fn routes() -> Router<SimState> {
    Router::new()
        .route("/v1/image_to_video", post(image_to_video))
        .route("/v1/text_to_image", post(text_to_image))
        .route("/v1/video_to_video", post(video_to_video))
        .route("/v1/video_upscale", post(video_upscale))
        .route("/v1/character_performance", post(character_performance))
        .route("/v1/tasks/{id}", get(poll).delete(cancel))
}

struct Runway;

/// `{"id":"<uuid>"}`, the create answer of Runway and of CometAPI's official format.
#[derive(Serialize)]
pub(super) struct CreatedId<'a> {
    pub id: &'a str,
}

impl Dialect for Runway {
    const PROVIDER: Provider = Provider::Runway;

    /// Runway wants its version header on every request.
    fn check_headers(_op: Op, headers: &HeaderMap) -> Result<(), SimError> {
        require_runway_version(headers)
    }

    fn create_answer(task: &Task) -> Vec<u8> {
        answer::to_bytes(&CreatedId { id: &task.id })
    }

    fn poll_answer(view: &View<'_>) -> Vec<u8> {
        answer::to_bytes(&RunwayTask::new(view, Clock::Utc, true))
    }
}

async fn image_to_video(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<Runway>(&s, &headers, &body, check_image_to_video).await
}

async fn text_to_image(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<Runway>(&s, &headers, &body, check_text_to_image).await
}

async fn video_to_video(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<Runway>(&s, &headers, &body, check_video_to_video).await
}

async fn video_upscale(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<Runway>(&s, &headers, &body, check_video_upscale).await
}

async fn character_performance(
    State(s): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    pipeline::create::<Runway>(&s, &headers, &body, check_character_performance).await
}

async fn poll(State(s): State<SimState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    pipeline::poll::<Runway>(&s, &headers, Some(&id)).await
}

async fn cancel(State(s): State<SimState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    pipeline::cancel::<Runway>(&s, &headers, &id).await
}

/// `promptImage`: a URL or data URI, or a non-empty list of `{uri, position}`.
pub(super) fn check_image_to_video(body: &Map<String, Value>) -> Result<Action, SimError> {
    match body.get("promptImage") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Action::ImageToVideo),
        Some(Value::Array(list)) if !list.is_empty() => Ok(Action::ImageToVideo),
        _ => Err(SimError::invalid("missing required field(s): promptImage")),
    }
}

/// `promptText`; `referenceImages`, when present, must not be empty.
pub(super) fn check_text_to_image(body: &Map<String, Value>) -> Result<Action, SimError> {
    require_strs(body, &["promptText"])?;
    if let Some(Value::Array(refs)) = body.get("referenceImages") {
        if refs.is_empty() {
            return Err(SimError::Invalid {
                code: "reference_images_empty",
                message: "referenceImages must hold at least one image".to_owned(),
            });
        }
    }
    Ok(Action::TextToImage)
}

pub(super) fn check_video_to_video(body: &Map<String, Value>) -> Result<Action, SimError> {
    require_strs(body, &["videoUri", "promptText"])?;
    Ok(Action::VideoToVideo)
}

pub(super) fn check_video_upscale(body: &Map<String, Value>) -> Result<Action, SimError> {
    require_strs(body, &["videoUri"])?;
    Ok(Action::VideoUpscale)
}

/// `character{type,uri}` and `reference{type,uri}`.
pub(super) fn check_character_performance(body: &Map<String, Value>) -> Result<Action, SimError> {
    let mut missing = Vec::new();
    for part in ["character", "reference"] {
        let inner = body.get(part).and_then(Value::as_object);
        for field in ["type", "uri"] {
            if inner.is_none_or(|o| require_strs(o, &[field]).is_err()) {
                missing.push(format!("{part}.{field}"));
            }
        }
    }
    if missing.is_empty() {
        Ok(Action::CharacterPerformance)
    } else {
        Err(SimError::invalid(format!(
            "missing required field(s): {}",
            missing.join(", ")
        )))
    }
}
