//! CometAPI's official format: Runway's API behind `/runwayml`, polled through a wrapper.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::feed::{FeedTask, Wrapped};
use super::runway::{
    check_character_performance, check_image_to_video, check_text_to_image, check_video_to_video,
    check_video_upscale, CreatedId,
};
use super::runway_object::{Clock, RunwayTask};
use super::{pipeline, require_runway_version, Dialect, View};
use crate::answer;
use crate::error::SimError;
use crate::provider::{Op, Provider};
use crate::script::Shape;
use crate::state::SimState;
use crate::task::Task;

pub(super) fn routes() -> Router<SimState> {
    Router::new()
        .route("/runwayml/v1/image_to_video", post(image_to_video))
        .route("/runwayml/v1/text_to_image", post(text_to_image))
        .route("/runwayml/v1/video_to_video", post(video_to_video))
        .route("/runwayml/v1/video_upscale", post(video_upscale))
        .route(
            "/runwayml/v1/character_performance",
            post(character_performance),
        )
        .route("/runwayml/v1/tasks/{id}", get(poll))
}

struct CometOfficial;

impl Dialect for CometOfficial {
    const PROVIDER: Provider = Provider::CometOfficial;

    /// The version header is required on creates; the poll documents it as optional.
    fn check_headers(op: Op, headers: &HeaderMap) -> Result<(), SimError> {
        match op {
            Op::Create => require_runway_version(headers),
            Op::Poll | Op::Cancel => Ok(()),
        }
    }

    fn create_answer(task: &Task) -> Vec<u8> {
        answer::to_bytes(&CreatedId { id: &task.id })
    }

    /// Wrapped as seen live (seeds/002), or Runway's bare task object.
    fn poll_answer(view: &View<'_>) -> Vec<u8> {
        match view.task.script.shape {
            Shape::Wrapped => answer::to_bytes(&Wrapped::success(FeedTask::new(view, true))),
            Shape::Bare => answer::to_bytes(&RunwayTask::new(view, Clock::Utc, true)),
        }
    }
}

async fn image_to_video(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<CometOfficial>(&s, &headers, &body, check_image_to_video).await
}

async fn text_to_image(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<CometOfficial>(&s, &headers, &body, check_text_to_image).await
}

async fn video_to_video(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<CometOfficial>(&s, &headers, &body, check_video_to_video).await
}

async fn video_upscale(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<CometOfficial>(&s, &headers, &body, check_video_upscale).await
}

async fn character_performance(
    State(s): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    pipeline::create::<CometOfficial>(&s, &headers, &body, check_character_performance).await
}

async fn poll(State(s): State<SimState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    pipeline::poll::<CometOfficial>(&s, &headers, Some(&id)).await
}
