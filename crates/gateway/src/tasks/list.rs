//! `GET /v1/tasks`: the tenant's tasks, newest first, with opaque cursors.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use taskgate_core::{Task, TaskStatus};
use taskgate_store::{Cursor, ListQuery};

use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::queue::place;
use crate::state::AppState;

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// Query parameters of the list route; unknown ones are rejected like unknown body fields.
/// Read as text so a bad value is a `400` naming it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only tasks in this status.
    #[param(value_type = Option<TaskStatus>)]
    pub status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (opaque: only a cursor the gateway gave is valid).
    pub after: Option<String>,
}

/// A page of tasks.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskList {
    /// Always `"list"`.
    pub object: &'static str,
    /// Newest first.
    pub data: Vec<Task>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The `after` of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CursorWire {
    t: DateTime<Utc>,
    id: String,
}

fn encode_cursor(task: &Task) -> String {
    let wire = CursorWire {
        t: task.created_at,
        id: task.id.clone(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

fn decode_cursor(text: &str) -> Result<Cursor, ApiError> {
    let bad = || ApiError::InvalidRequest("after: not a cursor from a previous page".into());
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let wire: CursorWire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok(Cursor {
        created_at: wire.t,
        id: wire.id,
    })
}

fn parse_query(params: &ListParams) -> Result<ListQuery, ApiError> {
    let status = match params.status.as_deref() {
        None => None,
        Some(word) => Some(TaskStatus::parse(word).ok_or_else(|| {
            ApiError::InvalidRequest(
                "status: must be one of queued, running, succeeded, failed, canceled".into(),
            )
        })?),
    };
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::InvalidRequest(format!(
                    "limit: must be an integer from 1 to {MAX_LIMIT}"
                )))
            }
        },
    };
    let after = params.after.as_deref().map(decode_cursor).transpose()?;
    Ok(ListQuery {
        status,
        limit,
        after,
    })
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    params: &ListParams,
) -> Result<TaskList, ApiError> {
    let mut query = parse_query(params)?;
    let limit = query.limit;
    // One more than asked tells whether another page exists.
    query.limit = limit + 1;
    let mut records = state.store.list(&caller.tenant, &query).await?;
    let has_more = records.len() > limit;
    records.truncate(limit);
    let mut data: Vec<Task> = Vec::with_capacity(records.len());
    for record in &records {
        let mut task = place::task_of(state, &caller.runtime, record).await?;
        crate::outputs::present::present(state, &caller.runtime, &caller.tenant, &mut task).await;
        data.push(task);
    }
    let next_cursor = if has_more {
        data.last().map(encode_cursor)
    } else {
        None
    };
    Ok(TaskList {
        object: "list",
        data,
        has_more,
        next_cursor,
    })
}
