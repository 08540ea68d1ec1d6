//! `POST /v1/tasks`: validate, pick providers by the tenant's route, create upstream with
//! fallback only when the previous provider certainly created nothing, store, answer.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use taskgate_config::TenantConfig;
use taskgate_core::{CreateOptions, FailureClass, Task, TaskInput, TaskType, UpstreamError};
use taskgate_store::{Reservation, TaskRecord};

use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::lifecycle::callback_target::TargetPolicy;
use crate::state::AppState;
use crate::tasks::callback_token;
use crate::traffic::upstream::CallError;

/// How long an `Idempotency-Key` binds its request.
pub const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

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
    /// Where to POST the task when it ends.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Free-form, returned with the task.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
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
    let request: CreateTaskRequest = serde_json::from_value(raw_body.clone())
        .map_err(|e| ApiError::InvalidRequest(format!("invalid create request: {e}")))?;
    let tenant = caller.tenant_config().ok_or(ApiError::Unauthorized)?;
    let input = TaskInput::parse(request.task_type, &request.input)
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
    let candidates = candidates(caller, tenant, &request)?;

    let Some(key) = idempotency_key else {
        return create_upstream(
            state,
            caller,
            tenant,
            &request,
            &input,
            &candidates,
            metadata,
        )
        .await;
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
        return Ok(Created { task: record.task });
    }
    let created = create_upstream(
        state,
        caller,
        tenant,
        &request,
        &input,
        &candidates,
        metadata,
    )
    .await;
    match &created {
        Ok(c) => {
            state
                .store
                .complete_idempotency(&caller.tenant, key, &c.task.id)
                .await?
        }
        Err(_) => state.store.release_idempotency(&caller.tenant, key).await?,
    }
    created
}

/// The providers to try, in order: the pinned one, or the tenant's route for the type.
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
        let runs = caller
            .runtime
            .provider(pinned)
            .is_some_and(|p| p.capabilities().runs(task_type));
        if !runs {
            return Err(ApiError::UnsupportedTaskType(format!(
                "provider '{pinned}' cannot run {task_type}"
            )));
        }
        return Ok(vec![pinned.clone()]);
    }
    match tenant.routes.get(&task_type) {
        Some(route) if !route.is_empty() => Ok(route.clone()),
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

async fn create_upstream(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantConfig,
    request: &CreateTaskRequest,
    input: &TaskInput,
    candidates: &[String],
    metadata: Map<String, Value>,
) -> Result<Created, ApiError> {
    let _slot = reserve_unfinished_slot(state, caller, tenant).await?;
    let task_id = format!("task_{}", ulid::Ulid::new());
    let mut last_error: Option<ApiError> = None;
    let mut all_open = true;
    for name in candidates {
        let Some(upstream) = state.upstream(&caller.runtime, name) else {
            continue;
        };
        if !upstream.provider.capabilities().runs(request.task_type) {
            continue;
        }
        let key = tenant.upstream_keys.get(name);
        // Providers that take a callback get the gateway's own, when it has a public address.
        let options = CreateOptions {
            callback_url: caller
                .runtime
                .config
                .server
                .public_url
                .as_ref()
                .map(|public| {
                    callback_token::url(
                        public,
                        upstream.provider.key(None),
                        &caller.tenant,
                        &task_id,
                    )
                }),
        };
        let outcome = upstream.create(input, &options, key).await;
        if !matches!(outcome, Err(CallError::CircuitOpen)) {
            all_open = false;
        }
        match outcome {
            Ok(provider_task_id) => {
                let ids = (task_id, provider_task_id);
                return store_created(state, caller, request, name, ids, metadata).await;
            }
            Err(CallError::CircuitOpen) => {
                tracing::info!(provider = %name, "circuit open; trying the next provider");
            }
            Err(CallError::RateLimited { retry_after }) => {
                tracing::info!(provider = %name, "provider rate budget spent; trying the next provider");
                last_error = Some(ApiError::RateLimited {
                    message: format!("provider {name} is at its rate limit"),
                    retry_after,
                });
            }
            Err(CallError::Unsupported(e)) => {
                tracing::info!(provider = %name, reason = %e, "provider cannot express this input; trying the next");
                last_error = Some(ApiError::InvalidRequest(e.to_string()));
            }
            Err(CallError::Upstream(e)) => {
                tracing::warn!(provider = %name, class = e.class.as_str(), status = ?e.http_status, error = %e.message, "create failed upstream");
                last_error = Some(upstream_api_error(name, &e));
                if !e.certainly_not_created() {
                    break;
                }
            }
        }
    }
    if all_open && !candidates.is_empty() {
        return Err(ApiError::Unavailable(
            "every provider for this task type is unhealthy; try again later".into(),
        ));
    }
    Err(last_error.unwrap_or_else(|| {
        ApiError::UnsupportedTaskType(format!(
            "no configured provider can run {}",
            request.task_type
        ))
    }))
}

/// Holds one of the tenant's unfinished-task slots while a create is in flight.
struct UnfinishedSlot<'a> {
    state: &'a AppState,
    tenant: String,
}

impl Drop for UnfinishedSlot<'_> {
    fn drop(&mut self) {
        let mut creating = self
            .state
            .creating
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = creating.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                creating.remove(&self.tenant);
            }
        }
    }
}

/// Counts stored unfinished tasks plus creates in flight against `max_unfinished_tasks`.
async fn reserve_unfinished_slot<'a>(
    state: &'a AppState,
    caller: &Caller,
    tenant: &TenantConfig,
) -> Result<Option<UnfinishedSlot<'a>>, ApiError> {
    let Some(cap) = tenant.max_unfinished_tasks else {
        return Ok(None);
    };
    let stored = state.store.count_unfinished(&caller.tenant).await?;
    let mut creating = state
        .creating
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let in_flight = creating.entry(caller.tenant.clone()).or_insert(0);
    if stored + *in_flight >= cap {
        return Err(ApiError::ConcurrencyLimited);
    }
    *in_flight += 1;
    Ok(Some(UnfinishedSlot {
        state,
        tenant: caller.tenant.clone(),
    }))
}

/// What the client hears about a failed upstream create.
fn upstream_api_error(provider: &str, e: &UpstreamError) -> ApiError {
    match e.class {
        FailureClass::Rejected => ApiError::InvalidRequest(format!(
            "provider {provider} rejected the input: {}",
            e.message
        )),
        FailureClass::OutcomeUnknown if e.timed_out => {
            ApiError::UpstreamTimeout(format!("provider {provider} did not answer in time"))
        }
        _ => ApiError::Upstream(format!("provider {provider} failed to create the task")),
    }
}

async fn store_created(
    state: &AppState,
    caller: &Caller,
    request: &CreateTaskRequest,
    provider: &str,
    (id, provider_task_id): (String, String),
    metadata: Map<String, Value>,
) -> Result<Created, ApiError> {
    let task = Task::accepted(
        id,
        request.task_type,
        provider.to_string(),
        provider_task_id,
        metadata,
        Utc::now(),
    );
    let mut record = TaskRecord::new(caller.tenant.clone(), task, request.callback_url.clone());
    // Nothing to learn from the provider right after its create: the watcher's first look
    // comes one period later.
    let first_look = chrono::Duration::from_std(caller.runtime.config.tasks.watch_every)
        .unwrap_or(chrono::Duration::MAX);
    record.next_check_at = Some(record.task.created_at + first_look);
    if let Err(e) = state.store.insert(&record).await {
        // The provider has the task but we could not keep it: log everything needed to
        // recover it by hand, and tell the client it failed.
        tracing::error!(error = %e, task = %record.task.id, provider = %record.task.provider, provider_task_id = ?record.task.provider_task_id, tenant = %caller.tenant, "created upstream but could not store the task");
        return Err(e.into());
    }
    tracing::info!(task = %record.task.id, provider = %record.task.provider, "task created");
    Ok(Created { task: record.task })
}
