//! `POST /v1/tasks`: validate, pick providers by the tenant's route, create upstream with
//! fallback only when the previous provider certainly created nothing, store, answer.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use taskgate_config::TenantConfig;
use taskgate_core::{FailureClass, Task, TaskInput, TaskType, UpstreamError};
use taskgate_store::{IdempotencyEntry, Pick, QueueEntry, QueueState, Reservation, TaskRecord};

use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::lifecycle::callback_target::TargetPolicy;
use crate::queue::dispatch::{self, CreateFailure, Dispatched, Mode};
use crate::queue::policy::{dispatch_policy, queueable};
use crate::queue::{dispatcher, place};
use crate::state::AppState;
use crate::tasks::refresh::to_chrono;

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
    /// Where to POST the task when it ends.
    #[serde(default)]
    pub callback_url: Option<String>,
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
    let request: CreateTaskRequest = serde_json::from_value(raw_body.clone())
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
    let checked = Checked {
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
struct Checked {
    priority: i32,
    /// The providers to try, in order.
    candidates: Vec<String>,
    metadata: Map<String, Value>,
}

/// The create's `priority`: a whole number from −10 to 10 (default 0).
fn priority(number: Option<&serde_json::Number>) -> Result<i32, ApiError> {
    let Some(number) = number else {
        return Ok(0);
    };
    let whole = number
        .as_i64()
        .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64));
    whole
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| (MIN_PRIORITY..=MAX_PRIORITY).contains(n))
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "priority: must be an integer from {MIN_PRIORITY} to {MAX_PRIORITY}"
            ))
        })
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

/// Stores the task first (so nothing accepted is ever lost), then sends it upstream when
/// a slot is free for it now, else leaves it waiting in the gateway's queue.
async fn submit(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantConfig,
    request: &CreateTaskRequest,
    checked: Checked,
    idempotency_key: Option<&str>,
) -> Result<Created, ApiError> {
    let Checked {
        priority,
        candidates,
        metadata,
    } = checked;
    let runtime = &caller.runtime;
    let _slot = reserve_unfinished_slot(state, caller, tenant).await?;
    let queues = queueable(runtime, &candidates);
    if queues {
        check_max_queued(state, caller, tenant).await?;
    }
    let now = Utc::now();
    let id = format!("task_{}", ulid::Ulid::new());
    let task = Task::waiting(id.clone(), request.task_type, metadata, now);
    let mut record = TaskRecord::new(caller.tenant.clone(), task, request.callback_url.clone());
    let lease = dispatch::lease(runtime, &candidates);
    let first = candidates.first().cloned().unwrap_or_default();
    let entry = QueueEntry {
        state: QueueState::Waiting,
        priority,
        candidates,
        head: false,
        input: request.input.to_string(),
    };
    if queues {
        record.queue = Some(entry);
        record.next_check_at = Some(dispatch::queue_deadline(runtime, &record));
    } else {
        // Nothing to count: the create is this replica's from the start, as a claim would
        // make it.
        record.queue = Some(QueueEntry {
            state: QueueState::Dispatching { provider: first },
            ..entry
        });
        record.lease_owner = Some(state.replica_id.clone());
        record.lease_until = Some(now + to_chrono(lease));
        record.next_check_at = record.lease_until;
    }
    state.store.insert(&record).await?;
    if let Some(key) = idempotency_key {
        state
            .store
            .complete_idempotency(&caller.tenant, key, &id)
            .await?;
    }
    let claimed = if queues {
        claim_with_others(state, runtime, &record, lease).await?
    } else {
        Some(record.clone())
    };
    let Some(claimed) = claimed else {
        tracing::info!(task = %id, "task queued");
        return Ok(Created {
            task: place::task_of(state, runtime, &record).await?,
        });
    };
    match dispatch::dispatch(state, runtime, claimed, Mode::Inline).await {
        Dispatched::Accepted(record) => Ok(Created { task: record.task }),
        Dispatched::Waiting(record) => Ok(Created {
            task: place::task_of(state, runtime, &record).await?,
        }),
        Dispatched::NotCreated { record, failure } => {
            // Nothing reached a provider: as if the create never happened.
            state
                .store
                .discard(&caller.tenant, &id, record.version)
                .await?;
            // Its idempotency key is released by the caller.
            Err(create_error(request, failure))
        }
        Dispatched::Unknown { failure, .. } => Err(create_error(request, failure)),
        Dispatched::Lost => {
            let record = state
                .store
                .get(&caller.tenant, &id)
                .await?
                .ok_or_else(ApiError::task_not_found)?;
            Ok(Created {
                task: place::task_of(state, runtime, &record).await?,
            })
        }
    }
}

/// Runs a claim for the queue (fair between tenants: tasks already waiting go first),
/// sends the others it took in the background, and returns ours if it was among them.
async fn claim_with_others(
    state: &AppState,
    runtime: &std::sync::Arc<crate::runtime::Runtime>,
    record: &TaskRecord,
    lease: std::time::Duration,
) -> Result<Option<TaskRecord>, ApiError> {
    let policy = dispatch_policy(state, runtime);
    let claimed = state
        .store
        .claim_dispatch(
            &state.replica_id,
            Utc::now(),
            lease,
            &policy,
            Pick::Fair {
                limit: dispatcher::BATCH,
            },
        )
        .await?;
    let mut ours = None;
    for other in claimed {
        if other.task.id == record.task.id {
            ours = Some(other);
        } else {
            dispatcher::spawn(state, runtime, other);
        }
    }
    Ok(ours)
}

/// `tenants.X.max_queued`: tasks of the tenant already waiting in the gateway's queue.
async fn check_max_queued(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantConfig,
) -> Result<(), ApiError> {
    let waiting: u64 = state
        .store
        .count_waiting(Some(&caller.tenant))
        .await?
        .iter()
        .map(|c| c.count)
        .sum();
    if waiting >= tenant.max_queued {
        return Err(ApiError::ConcurrencyLimited);
    }
    Ok(())
}

/// What the client hears about a create that reached no provider (or whose outcome is
/// unknown): the same answers as before the queue.
fn create_error(request: &CreateTaskRequest, failure: CreateFailure) -> ApiError {
    match failure {
        CreateFailure::RateLimited {
            provider,
            retry_after,
        } => ApiError::RateLimited {
            message: format!("provider {provider} is at its rate limit"),
            retry_after,
        },
        CreateFailure::Unhealthy => ApiError::Unavailable(
            "every provider for this task type is unhealthy; try again later".into(),
        ),
        CreateFailure::Unsupported(e) => ApiError::InvalidRequest(e.to_string()),
        CreateFailure::Upstream { provider, error } => upstream_api_error(&provider, &error),
        CreateFailure::NoProvider => ApiError::UnsupportedTaskType(format!(
            "no configured provider can run {}",
            request.task_type
        )),
    }
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
