//! `GET`/`HEAD /_sim/out/{id}.{ext}` and `/_sim/out/{id}/{n}.jpg`: the files a succeeded
//! task's polls name, streamed in 64 KiB chunks (see [`crate::output_bytes`] for their
//! content) and steered by the task's script (`output_*` fields). Needs no key.
//!
//! A file exists once its task has succeeded: the output with the extension of its kind
//! (`mp4`, `png` for images) and previews 1 and 2. Anything else is a 404.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::answer;
use crate::lifecycle::Phase;
use crate::output_bytes::{self, PREVIEW_BYTES};
use crate::state::{Counter, SimState};
use crate::task::Task;

/// The size of the chunks a body is produced in; `output_chunk_delay_ms` falls between two.
const CHUNK: u64 = 64 * 1024;

/// How many preview images each task has.
const PREVIEWS: u32 = 2;

pub(crate) fn routes() -> Router<SimState> {
    Router::new()
        .route("/_sim/out/{file}", get(get_output).head(head_output))
        .route(
            "/_sim/out/{id}/{image}",
            get(get_preview).head(head_preview),
        )
}

/// One file of one task.
struct File {
    task: Arc<Task>,
    /// Its path after `/_sim/out/`.
    name: String,
    seed: u64,
    len: u64,
    content_type: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
}

async fn get_output(State(s): State<SimState>, Path(file): Path<String>) -> Response {
    serve(&s, output_file(&s, &file), Method::Get)
}

async fn head_output(State(s): State<SimState>, Path(file): Path<String>) -> Response {
    serve(&s, output_file(&s, &file), Method::Head)
}

async fn get_preview(
    State(s): State<SimState>,
    Path((id, image)): Path<(String, String)>,
) -> Response {
    serve(&s, preview_file(&s, &id, &image), Method::Get)
}

async fn head_preview(
    State(s): State<SimState>,
    Path((id, image)): Path<(String, String)>,
) -> Response {
    serve(&s, preview_file(&s, &id, &image), Method::Head)
}

/// `{id}.{ext}`, when the task is known and `ext` is its output's.
fn output_file(state: &SimState, file: &str) -> Option<File> {
    let (id, ext) = file.rsplit_once('.')?;
    let task = state.lookup_any(id)?;
    if ext != task.action.extension() {
        return None;
    }
    Some(File {
        name: task.output_file(),
        seed: output_bytes::seed(id),
        len: task.script.output_bytes,
        content_type: content_type(ext),
        task,
    })
}

/// `{id}/{n}.jpg`, when the task is known and `n` is one of its previews.
fn preview_file(state: &SimState, id: &str, image: &str) -> Option<File> {
    let n: u32 = image.strip_suffix(".jpg")?.parse().ok()?;
    let task = state.lookup_any(id)?;
    let name = task.preview_file(n);
    if !(1..=PREVIEWS).contains(&n) || name != format!("{id}/{image}") {
        return None;
    }
    Some(File {
        name,
        seed: output_bytes::preview_seed(id, n),
        len: PREVIEW_BYTES,
        content_type: content_type("jpg"),
        task,
    })
}

/// The `Content-Type` of a file by its extension.
fn content_type(ext: &str) -> &'static str {
    match ext {
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// Counts the request, then answers as the task's script says.
fn serve(state: &SimState, file: Option<File>, method: Method) -> Response {
    let Some(file) = file else {
        return refusal(StatusCode::NOT_FOUND, "file not found");
    };
    let task = Arc::clone(&file.task);
    let gets_before = match method {
        Method::Get => {
            state.count(Counter::OutputGets, task.provider);
            task.count_output_get(&file.name)
        }
        Method::Head => {
            task.count_output_head();
            0
        }
    };
    if task.snapshot().phase != Phase::Succeeded {
        return refusal(StatusCode::NOT_FOUND, "file not found");
    }
    let script = &task.script;
    if script.output_status != 200 {
        return steered(script.output_status);
    }
    if method == Method::Get && gets_before < u64::from(script.output_fail_times) {
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "simulated failure");
    }
    let content_type = match &script.output_content_type {
        None => HeaderValue::from_static(file.content_type),
        Some(ct) => match HeaderValue::from_str(ct) {
            Ok(v) => v,
            Err(_) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, "bad output_content_type"),
        },
    };
    let len = file.len;
    let body = match method {
        Method::Head => Body::empty(),
        Method::Get if len == 0 => {
            task.count_output_completed();
            Body::empty()
        }
        Method::Get => {
            let delay = Duration::from_millis(script.output_chunk_delay_ms);
            stream(state.clone(), file, delay)
        }
    };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

/// The answer for a scripted `output_status` other than 200 (outside 200..=599: 500).
fn steered(status: u16) -> Response {
    match StatusCode::from_u16(status) {
        Ok(s) if (400..=599).contains(&status) => refusal(s, "simulated status"),
        Ok(s) if (200..=399).contains(&status) => answer::empty(s),
        _ => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "output_status out of range",
        ),
    }
}

fn refusal(status: StatusCode, message: &str) -> Response {
    answer::json(status, &json!({"error": message}))
}

/// A body being produced: where it is, and what it waits between chunks.
struct Download {
    state: SimState,
    file: File,
    offset: u64,
    delay: Duration,
}

/// The file's bytes, a chunk at a time, `delay` between chunks; cut off with an error
/// should the simulator stop meanwhile.
fn stream(state: SimState, file: File, delay: Duration) -> Body {
    let download = Download {
        state,
        file,
        offset: 0,
        delay,
    };
    Body::from_stream(futures::stream::unfold(download, next_chunk))
}

async fn next_chunk(mut d: Download) -> Option<(io::Result<Bytes>, Download)> {
    if d.offset >= d.file.len {
        return None;
    }
    if d.offset > 0 && !d.delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(d.delay) => {}
            () = d.state.stopped() => {
                d.offset = d.file.len;
                return Some((Err(io::Error::other("the simulator stopped")), d));
            }
        }
    }
    let n = CHUNK.min(d.file.len - d.offset);
    let mut chunk = vec![0; usize::try_from(n).unwrap_or(0)];
    output_bytes::fill(d.file.seed, d.offset, &mut chunk);
    d.offset += n;
    if d.offset == d.file.len {
        d.file.task.count_output_completed();
    }
    Some((Ok(Bytes::from(chunk)), d))
}
