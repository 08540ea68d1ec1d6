//! `POST /v1/tasks`: validate, pick providers by the tenant's route, create upstream with
//! fallback only when the previous provider certainly created nothing, store, answer.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use taskgate_config::TenantConfig;
use taskgate_core::{EventSet, Task, TaskInput, TaskType};
use taskgate_store::{IdempotencyEntry, Reservation};

use super::submit::submit;
use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::lifecycle::callback_target::TargetPolicy;
use crate::queue::place;
use crate::queue::runnable::runnable;
use crate::state::AppState;

/// How long an `Idempotency-Key` binds its request.
pub const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MIN_PRIORITY: i32 = -10;
pub const MAX_PRIORITY: i32 = 10;

/// The create request body (`API.md`, "Task types and input"). Its OpenAPI schema, one
/// object per type, is in `api::openapi::create_body`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    /// One of the six task types.
    #[serde(rename = "type")]
    pub task_type: TaskType,
    /// The type's input; `input.extra` is merged into the provider's request as is.
    pub input: Value,
    /// Pins a provider instead of the tenant's route.
    #[serde(default)]
    pub provider: Option<String>,
    /// Where to POST the task's events.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Which events go to `callback_url`; default the three terminal ones.
    #[serde(default)]
    pub callback_events: Option<Vec<String>>,
    /// Free-form, returned with the task.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// Order within the tenant's tasks waiting in the gateway's queue: −10 to 10, higher
    /// first; default 0.
    /// Any JSON number with a whole value (`4.0` included, as JSON Schema's `integer`).
    #[serde(default)]
    pub priority: Option<serde_json::Number>,
}

/// A created (or idempotently replayed) task.
pub struct Created {
    pub task: Task,
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    raw_body: &Value,
    idempotency_key: Option<&str>,
) -> Result<Created, ApiError> {
    // The error names the field it is about (`callback_events: invalid type: ...`).
    let request: CreateTaskRequest = serde_path_to_error::deserialize(raw_body)
        .map_err(|e| ApiError::InvalidRequest(format!("invalid create request: {e}")))?;
    let tenant = caller.tenant_config().ok_or(ApiError::Unauthorized)?;
    TaskInput::parse(request.task_type, &request.input)
        .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    if let Some(url) = &request.callback_url {
        let policy = TargetPolicy::new(
            state.webhook_http.listeners(),
            caller.runtime.config.webhooks.deny_private_networks,
        );
        check_callback_url(tenant, &policy, url)?;
        if tenant.webhook_secret.is_none() {
            return Err(ApiError::InvalidRequest(
                "callback_url: this tenant has no webhook_secret configured to sign webhooks"
                    .into(),
            ));
        }
    }
    let metadata = request.metadata.clone().unwrap_or_default();
    if serde_json::to_vec(&metadata).map_or(0, |v| v.len()) > MAX_METADATA_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "metadata: must be at most {MAX_METADATA_BYTES} bytes of JSON"
        )));
    }
    let callback_events = match (&request.callback_events, &request.callback_url) {
        (None, _) => EventSet::default(),
        (Some(_), None) => {
            return Err(ApiError::InvalidRequest(
                "callback_events: needs a callback_url to send them to".into(),
            ))
        }
        (Some(names), Some(_)) => {
            EventSet::parse(names).map_err(|e| ApiError::InvalidRequest(e.to_string()))?
        }
    };
    let checked = Checked {
        callback_events,
        priority: priority(request.priority.as_ref())?,
        candidates: candidates(caller, tenant, &request)?,
        metadata,
    };

    let Some(key) = idempotency_key else {
        return submit(state, caller, tenant, &request, checked, None).await;
    };
    check_idempotency_key(key)?;
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(raw_body).unwrap_or_default(),
    ));
    let reservation = state
        .store
        .reserve_idempotency(&caller.tenant, key, &hash, Utc::now(), IDEMPOTENCY_TTL)
        .await?;
    if let Reservation::Existing(entry) = reservation {
        if entry.request_hash != hash {
            return Err(ApiError::Conflict(
                "this Idempotency-Key was used with a different request body".into(),
            ));
        }
        let Some(task_id) = entry.task_id else {
            return Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still in progress".into(),
            ));
        };
        let record = state
            .store
            .get(&caller.tenant, &task_id)
            .await?
            .ok_or_else(ApiError::task_not_found)?;
        return Ok(Created {
            task: place::task_of(state, &caller.runtime, &record).await?,
        });
    }
    let created = submit(state, caller, tenant, &request, checked, Some(key)).await;
    if created.is_err() {
        // Released unless a task holds it (a create whose outcome is unknown keeps its key,
        // so a retry cannot send it twice).
        let bound = state
            .store
            .reserve_idempotency(&caller.tenant, key, &hash, Utc::now(), IDEMPOTENCY_TTL)
            .await;
        let holds_task = matches!(
            bound,
            Ok(Reservation::Existing(IdempotencyEntry {
                task_id: Some(_),
                ..
            }))
        );
        if !holds_task {
            state.store.release_idempotency(&caller.tenant, key).await?;
        }
    }
    created
}

/// What validation made of the request, ready to store.
pub(super) struct Checked {
    pub callback_events: EventSet,
    pub priority: i32,
    /// The providers to try, in order.
    pub candidates: Vec<String>,
    pub metadata: Map<String, Value>,
}

/// The create's `priority`: a whole number from −10 to 10 (default 0).
fn priority(number: Option<&serde_json::Number>) -> Result<i32, ApiError> {
    let Some(number) = number else {
        return Ok(0);
    };
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0)
            .map(|f| f as i64)
    });
    whole
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| (MIN_PRIORITY..=MAX_PRIORITY).contains(n))
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "priority: must be an integer from {MIN_PRIORITY} to {MAX_PRIORITY}"
            ))
        })
}

/// The providers to try, in order: the pinned one, or the tenant's route for the type,
/// without those that cannot run it under the running config (see `queue::runnable`).
fn candidates(
    caller: &Caller,
    tenant: &TenantConfig,
    request: &CreateTaskRequest,
) -> Result<Vec<String>, ApiError> {
    let task_type = request.task_type;
    if let Some(pinned) = &request.provider {
        let usable = tenant.may_use(pinned) && caller.runtime.provider(pinned).is_some();
        if !usable {
            return Err(ApiError::InvalidRequest(format!(
                "provider: '{pinned}' is not a provider this tenant can use"
            )));
        }
        return Ok(runnable(
            &caller.runtime,
            task_type,
            std::slice::from_ref(pinned),
        )?);
    }
    match tenant.routes.get(&task_type) {
        Some(route) if !route.is_empty() => Ok(runnable(&caller.runtime, task_type, route)?),
        _ => Err(ApiError::UnsupportedTaskType(format!(
            "no provider is configured for {task_type} for this tenant"
        ))),
    }
}

/// A host name other than `localhost` is not resolved here: what it resolves to now says
/// nothing about delivery time (DNS rebinding), and a lookup would slow every create. The
/// delivery checks the addresses it connects to.
fn check_callback_url(
    tenant: &TenantConfig,
    policy: &TargetPolicy<'_>,
    text: &str,
) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::InvalidRequest(format!("callback_url: {why}"));
    let url = url::Url::parse(text).map_err(|_| bad("must be an absolute http(s) URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an absolute http(s) URL"));
    }
    let host = url.host_str().ok_or_else(|| bad("must name a host"))?;
    if !tenant.callback_host_allowed(host) {
        return Err(bad("host is not in this tenant's allowed_callback_hosts"));
    }
    policy
        .check_url(&url)
        .map_err(|refusal| bad(&format!("refused address: {refusal}")))
}

fn check_idempotency_key(key: &str) -> Result<(), ApiError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY
        && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ApiError::InvalidRequest(format!(
            "Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )))
    }
}
