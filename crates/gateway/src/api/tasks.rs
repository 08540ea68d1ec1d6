//! Handlers of `/v1/tasks`. Thin: parse, call `crate::tasks`, answer.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use taskgate_core::Task;

use crate::error::ApiError;
use crate::extract::{ApiQuery, JsonBody};
use crate::layers::auth::Caller;
use crate::state::AppState;
use crate::tasks::list::{ListParams, TaskList};
use crate::tasks::{cancel, create, list, read};

/// Create a task.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks",
    request_body = create::CreateTaskRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "same key and body within 24 h returns the same task")),
    responses((status = 202, description = "accepted", body = Task), (status = "4XX", description = "error", body = crate::api::openapi::ErrorBody), (status = "5XX", description = "error", body = crate::api::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::InvalidRequest("Idempotency-Key: must be visible ASCII".into())
        })?),
    };
    let created = create::create(&state, &caller, &body, key).await?;
    let location = format!("/v1/tasks/{}", created.task.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(created.task),
    )
        .into_response())
}

/// Query of the read route.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Long-poll: answer as soon as the task is finished, or after this many seconds (≤ 60).
    pub wait: Option<String>,
}

/// Read a task, refreshing it from the provider first when it is unfinished and stale.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "task id"), ReadParams),
    responses((status = 200, description = "the task", body = Task), (status = 404, description = "no such task", body = crate::api::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ReadParams>,
) -> Result<Response, ApiError> {
    let wait = read::parse_wait(params.wait.as_deref())?;
    if let Some(json) = state.finished.get(&caller.tenant, &id) {
        return Ok(json_response(json));
    }
    let (task, stale) = read::read(&state, &caller, &id).await?;
    let task = read::wait_for_end(&state, &caller, task, wait).await?;
    let mut response = json_response(state.finished.json(&caller.tenant, &task));
    if let Some(stale) = stale {
        response
            .headers_mut()
            .insert(STALE_HEADER, HeaderValue::from_static(stale.as_str()));
    }
    Ok(response)
}

fn json_response(json: bytes::Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// Server-Sent Events: `event: task` now and on every change of status or progress; the
/// stream ends after the terminal one.
#[utoipa::path(get, path = "/v1/tasks/{id}/events", tag = "tasks",
    params(("id" = String, Path, description = "task id")),
    responses((status = 200, description = "text/event-stream of `task` events", content_type = "text/event-stream"), (status = 404, description = "no such task", body = crate::api::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn task_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (task, _) = read::read(&state, &caller, &id).await?;
    let events = read::changes(state, caller, task).map(|task| {
        Ok::<_, std::convert::Infallible>(
            Event::default()
                .event("task")
                .json_data(&*task)
                .unwrap_or_else(|_| Event::default().event("task")),
        )
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
        .into_response())
}

/// Set when a read serves the stored state because the provider could not be asked.
pub const STALE_HEADER: &str = "x-taskgate-stale";

/// List the tenant's tasks, newest first.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(ListParams),
    responses((status = 200, description = "a page", body = TaskList), (status = 400, description = "bad query", body = crate::api::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<TaskList>, ApiError> {
    Ok(Json(list::list(&state, &caller, &params).await?))
}

/// Cancel a task where its provider can.
#[utoipa::path(post, path = "/v1/tasks/{id}/cancel", tag = "tasks",
    params(("id" = String, Path, description = "task id")),
    responses((status = 200, description = "the canceled task", body = Task), (status = 409, description = "finished already, or the provider cannot cancel", body = crate::api::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(cancel::cancel(&state, &caller, &id).await?))
}
