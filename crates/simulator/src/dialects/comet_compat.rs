//! CometAPI's compatibility format: `/runway/pro/*` creates and the `/runway/feed` poll.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::feed::{FeedTask, Wrapped};
use super::{has_str, pipeline, require_strs, Dialect, View};
use crate::answer;
use crate::error::SimError;
use crate::provider::Provider;
use crate::script::{CreateCode, Shape};
use crate::state::SimState;
use crate::task::{Action, Task};

pub(super) fn routes() -> Router<SimState> {
    Router::new()
        .route("/runway/pro/generate", post(generate))
        .route("/runway/pro/video2video", post(video2video))
        .route("/runway/pro/act_one", post(act_one))
        .route("/runway/feed", post(feed))
}

struct CometCompat;

#[derive(Serialize)]
struct CreateAnswer<'a> {
    code: Value,
    message: &'static str,
    msg: &'static str,
    data: TaskId<'a>,
}

#[derive(Serialize)]
struct TaskId<'a> {
    task_id: &'a str,
}

impl Dialect for CometCompat {
    const PROVIDER: Provider = Provider::CometCompat;

    fn create_answer(task: &Task) -> Vec<u8> {
        let code = match task.script.create_code {
            CreateCode::Int => json!(200),
            CreateCode::String => json!("200"),
            CreateCode::Success => json!("success"),
        };
        answer::to_bytes(&CreateAnswer {
            code,
            message: "",
            msg: "success",
            data: TaskId { task_id: &task.id },
        })
    }

    fn poll_answer(view: &View<'_>) -> Vec<u8> {
        let inner = FeedTask::new(view, false);
        match view.task.script.shape {
            Shape::Wrapped => answer::to_bytes(&Wrapped::success(inner)),
            Shape::Bare => answer::to_bytes(&inner),
        }
    }
}

async fn generate(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<CometCompat>(&s, &headers, &body, check_generate).await
}

async fn video2video(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<CometCompat>(&s, &headers, &body, check_video2video).await
}

async fn act_one(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<CometCompat>(&s, &headers, &body, check_act_one).await
}

async fn feed(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    let id = parsed
        .as_ref()
        .and_then(|v| v.get("task_id"))
        .and_then(Value::as_str);
    pipeline::poll::<CometCompat>(&s, &headers, id).await
}

/// Image to video when `image` is given, else text to video (which needs `prompt`).
fn check_generate(body: &Map<String, Value>) -> Result<Action, SimError> {
    if has_str(body, "image") {
        return Ok(Action::ImageToVideo);
    }
    require_strs(body, &["prompt"])?;
    Ok(Action::TextToVideo)
}

fn check_video2video(body: &Map<String, Value>) -> Result<Action, SimError> {
    require_strs(body, &["video", "prompt"])?;
    Ok(Action::VideoToVideo)
}

fn check_act_one(body: &Map<String, Value>) -> Result<Action, SimError> {
    require_strs(body, &["video", "image", "callback_url"])?;
    Ok(Action::ActOne)
}
