//! makevid: `POST /api/v1/create_runway` and `GET /api/v1/get_runway/{id}` (seeds/004).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::progress::{progress, Native};
use super::{has_str, pipeline, Dialect, View};
use crate::answer;
use crate::error::SimError;
use crate::lifecycle::{Phase, Snapshot};
use crate::provider::Provider;
use crate::state::SimState;
use crate::task::{Action, Task};

pub(super) fn routes() -> Router<SimState> {
    Router::new()
        .route("/api/v1/create_runway", post(create))
        .route("/api/v1/get_runway/{id}", get(poll))
}

struct Makevid;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MakevidTask<'a> {
    id: &'a str,
    name: Option<()>,
    image: Option<()>,
    created_at: String,
    updated_at: String,
    task_type: &'static str,
    options: Value,
    status: &'a str,
    error: Option<&'a str>,
    progress_text: Option<()>,
    progress_ratio: Value,
    estimated_time_to_start_seconds: u64,
    artifacts: Vec<Artifact<'a>>,
    shared_asset: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Artifact<'a> {
    id: String,
    created_at: String,
    updated_at: String,
    user_id: u64,
    created_by: u64,
    task_id: &'a str,
    parent_asset_group_id: String,
    filename: &'static str,
    url: String,
    file_size: String,
    is_directory: bool,
    preview_urls: Vec<String>,
    private: bool,
    private_in_team: bool,
    deleted: bool,
    reported: bool,
    metadata: Value,
    favorite: bool,
}

#[derive(Serialize)]
struct Envelope<'a> {
    task: MakevidTask<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_id: Option<&'static str>,
}

const USER_ID: u64 = 18_924_429;

impl Dialect for Makevid {
    const PROVIDER: Provider = Provider::Makevid;

    /// Always the fresh task: `PENDING`, `progressRatio: null`, no artifacts.
    fn create_answer(task: &Task) -> Vec<u8> {
        let view = View {
            task,
            snap: Snapshot {
                phase: Phase::Submitted,
                start_ms: None,
                finish_ms: None,
                changed_ms: 0,
                at_ms: 0,
            },
            word: Some("PENDING"),
        };
        answer::to_bytes(&Envelope {
            task: makevid_task(&view),
            server_id: Some("sim-1"),
        })
    }

    fn poll_answer(view: &View<'_>) -> Vec<u8> {
        answer::to_bytes(&Envelope {
            task: makevid_task(view),
            server_id: None,
        })
    }
}

async fn create(State(s): State<SimState>, headers: HeaderMap, body: Bytes) -> Response {
    pipeline::create::<Makevid>(&s, &headers, &body, check_create).await
}

async fn poll(State(s): State<SimState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    pipeline::poll::<Makevid>(&s, &headers, Some(&id)).await
}

fn check_create(body: &Map<String, Value>) -> Result<Action, SimError> {
    if has_str(body, "init_image") {
        Ok(Action::ImageToVideo)
    } else if has_str(body, "text_prompt") {
        Ok(Action::TextToVideo)
    } else {
        Err(SimError::invalid("text_prompt or init_image is required"))
    }
}

fn makevid_task<'a>(view: &View<'a>) -> MakevidTask<'a> {
    let task = view.task;
    let phase = view.snap.phase;
    let waiting = matches!(phase, Phase::Submitted | Phase::Queued);
    let progress_ratio = match phase {
        Phase::NotVisible | Phase::Submitted | Phase::Queued | Phase::Failed | Phase::Cancelled => {
            Value::Null
        }
        Phase::Running(_) | Phase::Succeeded => {
            progress(Native::RatioString, task.script.progress_form, phase)
        }
    };
    let queue_left_ms = task.script.queued_ms.saturating_sub(view.snap.at_ms);
    MakevidTask {
        id: &task.id,
        name: None,
        image: None,
        created_at: task.iso_utc(0),
        updated_at: task.iso_utc(view.snap.changed_ms),
        task_type: "gen3a_turbo",
        options: options(task),
        status: view.word(match view.runway_word() {
            "CANCELLED" => "CANCELED",
            w => w,
        }),
        error: view.failure(),
        progress_text: None,
        progress_ratio,
        estimated_time_to_start_seconds: if waiting {
            queue_left_ms.div_ceil(1000)
        } else {
            0
        },
        artifacts: if phase == Phase::Succeeded {
            vec![artifact(view)]
        } else {
            Vec::new()
        },
        shared_asset: None,
    }
}

fn options(task: &Task) -> Value {
    let body = &task.body;
    let field = |name: &str, default: Value| body.get(name).cloned().unwrap_or(default);
    json!({
        "name": "",
        "seconds": field("seconds", json!(5)),
        "text_prompt": field("text_prompt", json!("")),
        "seed": u64::try_from(task.uuid.as_u128() % 4_294_967_296).unwrap_or(0),
        "exploreMode": false,
        "watermark": false,
        "enhance_prompt": field("enhance_prompt", json!(false)),
        "init_image": field("init_image", Value::Null),
        "resolution": "720p",
        "image_as_end_frame": field("image_as_end_frame", json!(false)),
        "assetGroupName": "Generative Video",
    })
}

fn artifact<'a>(view: &View<'a>) -> Artifact<'a> {
    let task = view.task;
    let at = task.iso_utc(view.snap.finish_ms.unwrap_or(view.snap.changed_ms));
    let seconds = task
        .body
        .get("seconds")
        .and_then(Value::as_f64)
        .unwrap_or(5.0);
    let derived = |turn: u32| Uuid::from_u128(task.uuid.as_u128().rotate_left(turn)).to_string();
    Artifact {
        id: derived(32),
        created_at: at.clone(),
        updated_at: at,
        user_id: USER_ID,
        created_by: USER_ID,
        task_id: &task.id,
        parent_asset_group_id: derived(64),
        filename: ".mp4",
        url: task.output_url(),
        file_size: task.script.output_bytes.to_string(),
        is_directory: false,
        preview_urls: vec![task.preview_url(1), task.preview_url(2)],
        private: true,
        private_in_team: true,
        deleted: false,
        reported: false,
        metadata: json!({
            "frameRate": 24,
            "duration": seconds + 0.042,
            "dimensions": [1280, 768],
            "size": {"width": 1280, "height": 768},
        }),
        favorite: false,
    }
}
