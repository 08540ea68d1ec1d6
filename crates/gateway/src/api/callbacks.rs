//! `POST /callbacks/{tenant}/{id}/{token}`: a provider says a task changed. The body is
//! never trusted (its format is undocumented): a valid call only triggers a re-poll.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api::openapi::responses::{
    HeaderFieldsTooLarge, Internal, NotFound, PayloadTooLarge, RequestTimeout, Unavailable,
};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tasks::callback_token;
use crate::tasks::refresh::{self, Asker};

/// A provider's callback: one of its tasks changed. The body is not read; with a valid token
/// the gateway polls the task again.
#[utoipa::path(post, path = "/callbacks/{tenant}/{id}/{token}", tag = "callbacks",
    params(
        ("tenant" = String, Path, description = "The task's tenant."),
        ("id" = String, Path, description = "The task id."),
        ("token" = String, Path, description = "The task's callback token, made by the gateway when it created the task."),
    ),
    responses(
        (status = 202, description = "The gateway will poll the task again.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 404, response = NotFound),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 431, response = HeaderFieldsTooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ))]
pub async fn provider_callback(
    State(state): State<AppState>,
    Path((tenant, id, token)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let runtime = state.runtime.load_full();
    let record = state
        .store
        .get(&tenant, &id)
        .await?
        .ok_or_else(ApiError::task_not_found)?;
    // A provider may call back before its create's answer is recorded: the provider the
    // create went to is the one whose key signed the token.
    let valid = record
        .slot_provider()
        .and_then(|name| runtime.provider(name))
        .is_some_and(|p| callback_token::matches(p.key(None), &tenant, &id, &token));
    if !valid {
        // Exactly as for an unknown task: a wrong token teaches nothing.
        return Err(ApiError::task_not_found());
    }
    if !record.task.is_terminal() && record.queue.is_none() {
        let work = refresh::refresh(state.clone(), runtime, record, Asker::Watcher);
        let state = state.clone();
        tokio::spawn(async move {
            if let Some(Err(e)) = state.refreshes.run(&id, work).await {
                tracing::warn!(task = %id, error = %e, "callback re-poll could not be stored");
            }
        });
    }
    Ok(StatusCode::ACCEPTED)
}
