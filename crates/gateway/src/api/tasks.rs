//! Handlers of `/v1/tasks`. Thin: parse, call `crate::tasks`, answer.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use taskgate_core::Task;

use crate::api::openapi::responses::{
    BadGateway, BadRequest, CancelConflict, Conflict, GatewayTimeout, HeaderFieldsTooLarge,
    Internal, NotFound, PayloadTooLarge, RequestTimeout, TooManyRequests, Unauthorized,
    Unavailable, UnsupportedTaskType,
};
use crate::error::ApiError;
use crate::extract::{ApiQuery, JsonBody};
use crate::layers::auth::Caller;
use crate::outputs::present::present;
use crate::prefer;
use crate::queue::place;
use crate::state::AppState;
use crate::tasks::list::{ListParams, TaskList};
use crate::tasks::{cancel, create, list, read};

/// Create a task.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks",
    request_body = create::CreateTaskRequest,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "1 to 255 visible ASCII characters. The same key and body within 24 h return the same task (no second upstream create); the same key with another body is `409 conflict`."),
        ("Prefer" = Option<String>, Header,
        description = "RFC 7240. `wait=N` (whole seconds, at most 60; larger is applied as 60): hold the answer until the task is finished (`200`) or N seconds pass (`202` with its current state). Nothing else changes: the same task, webhooks and idempotency. Other preferences are ignored.")),
    responses(
        (status = 200, description = "With `Prefer: wait=N`: the task finished within the wait.", body = Task,
            headers(
                ("Location" = String, description = "`/v1/tasks/{id}` of the task."),
                ("Preference-Applied" = String, description = "`wait=N`, the wait applied."),
                ("x-request-id" = String, description = "The request's id."),
                ("RateLimit-Policy" = String, description = "The tenant's rate limit, when it has one."),
                ("RateLimit" = String, description = "What is left of it, when the tenant has one."),
            )),
        (status = 202, description = "Accepted: the task, `queued` or later if already known (with `Prefer: wait=N`, still unfinished after the wait).", body = Task,
            headers(
                ("Location" = String, description = "`/v1/tasks/{id}` of the task."),
                ("Preference-Applied" = String, description = "With `Prefer: wait=N`: `wait=N`, the wait applied."),
                ("x-request-id" = String, description = "The request's id."),
                ("RateLimit-Policy" = String, description = "The tenant's rate limit, when it has one."),
                ("RateLimit" = String, description = "What is left of it, when the tenant has one."),
            ),
            links(
                ("GetTask" = (operation_id = "get_task", parameters(("id" = "$response.body#/id")), description = "Read the created task.")),
                ("CancelTask" = (operation_id = "cancel_task", parameters(("id" = "$response.body#/id")), description = "Cancel the created task.")),
                ("TaskEvents" = (operation_id = "task_events", parameters(("id" = "$response.body#/id")), description = "Follow the created task's changes.")),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 408, response = RequestTimeout),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnsupportedTaskType),
        (status = 429, response = TooManyRequests),
        (status = 431, response = HeaderFieldsTooLarge),
        (status = 500, response = Internal),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    ),
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
    let Some(wait) = prefer::wait(&headers) else {
        // An idempotent replay may be of a finished task with stored outputs.
        let mut task = created.task;
        present(&state, &caller.runtime, &caller.tenant, &mut task).await;
        return Ok((
            StatusCode::ACCEPTED,
            [(header::LOCATION, location)],
            Json(task),
        )
            .into_response());
    };
    // The long-poll's wait: woken by the task's events, no upstream call of its own.
    let task = read::wait_for_end(&state, &caller, created.task, wait).await?;
    let mut task = place::fill(&state, &caller.runtime, &caller.tenant, task).await?;
    present(&state, &caller.runtime, &caller.tenant, &mut task).await;
    let status = if task.is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let applied = format!("wait={}", wait.as_secs());
    Ok((
        status,
        [
            (header::LOCATION, location),
            (HeaderName::from_static("preference-applied"), applied),
        ],
        Json(task),
    )
        .into_response())
}

/// Query of the read route. Read as text so a bad value is a `400` naming it.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Long-poll: answer as soon as the task is finished, or after this many seconds (0 to 60).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 60)]
    pub wait: Option<String>,
}

/// Read a task, refreshing it from the provider first when it is unfinished and stale.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "The task's id."), ReadParams),
    responses(
        (status = 200, description = "The task.", body = Task,
            headers(
                ("x-request-id" = String, description = "The request's id."),
                ("x-taskgate-stale" = String, description = "Set when the provider could not be asked and the stored state is served: why (e.g. `provider_error`)."),
                ("RateLimit-Policy" = String, description = "The tenant's rate limit, when it has one."),
                ("RateLimit" = String, description = "What is left of it, when the tenant has one."),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 408, response = RequestTimeout),
        (status = 429, response = TooManyRequests),
        (status = 431, response = HeaderFieldsTooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    ),
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
    let mut task = place::fill(&state, &caller.runtime, &caller.tenant, task).await?;
    let valid_until = present(&state, &caller.runtime, &caller.tenant, &mut task).await;
    let mut response = json_response(state.finished.json(&caller.tenant, &task, valid_until));
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
    params(("id" = String, Path, description = "The task's id.")),
    responses(
        (status = 200, description = "`text/event-stream`: an `event: task` whose data is the task JSON, now and on every change of status or progress; the stream closes after the terminal one.",
            content_type = "text/event-stream",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 408, response = RequestTimeout),
        (status = 429, response = TooManyRequests),
        (status = 431, response = HeaderFieldsTooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    ),
    security(("bearer" = [])))]
pub async fn task_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (task, _) = read::read(&state, &caller, &id).await?;
    let (shown_state, runtime, tenant) =
        (state.clone(), caller.runtime.clone(), caller.tenant.clone());
    let events = read::changes(state, caller, task).then(move |task| {
        let (state, runtime, tenant) = (shown_state.clone(), runtime.clone(), tenant.clone());
        async move {
            let mut task = (*task).clone();
            present(&state, &runtime, &tenant, &mut task).await;
            Ok::<_, std::convert::Infallible>(
                Event::default()
                    .event("task")
                    .json_data(&task)
                    .unwrap_or_else(|_| Event::default().event("task")),
            )
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
        .into_response())
}

/// Set when a read serves the stored state because the provider could not be asked.
pub const STALE_HEADER: &str = "x-taskgate-stale";

/// List the tenant's tasks, newest first.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(ListParams),
    responses(
        (status = 200, description = "A page of tasks.", body = TaskList,
            headers(
                ("x-request-id" = String, description = "The request's id."),
                ("RateLimit-Policy" = String, description = "The tenant's rate limit, when it has one."),
                ("RateLimit" = String, description = "What is left of it, when the tenant has one."),
            ),
            links(("NextPage" = (operation_id = "list_tasks", parameters(("after" = "$response.body#/next_cursor")), description = "The next page, while `has_more`.")))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 408, response = RequestTimeout),
        (status = 429, response = TooManyRequests),
        (status = 431, response = HeaderFieldsTooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    ),
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
    params(("id" = String, Path, description = "The task's id.")),
    responses(
        (status = 200, description = "The canceled task.", body = Task,
            headers(
                ("x-request-id" = String, description = "The request's id."),
                ("RateLimit-Policy" = String, description = "The tenant's rate limit, when it has one."),
                ("RateLimit" = String, description = "What is left of it, when the tenant has one."),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 408, response = RequestTimeout),
        (status = 409, response = CancelConflict),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 431, response = HeaderFieldsTooLarge),
        (status = 500, response = Internal),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    ),
    security(("bearer" = [])))]
pub async fn cancel_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(cancel::cancel(&state, &caller, &id).await?))
}
