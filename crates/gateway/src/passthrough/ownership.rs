//! On a provider key that several tenants share, the provider cannot tell them apart, so
//! the gateway keeps each tenant to its own tasks: a route naming a task goes through only
//! when the store shows the task is the caller's (created through the stable API or through
//! the pass-through), a create's answer records the new id for the caller, and routes the
//! dialect does not model (account-wide data) do not go through at all. With the tenant's
//! own upstream key the provider enforces this itself, and none of it applies.

use axum::body::Body;
use bytes::Bytes;
use taskgate_core::{read_bounded, PassthroughRoute, Provider};
use taskgate_store::TaskStore;

use crate::error::ApiError;
use crate::extract::read_body;
use crate::strict_json;

/// What is sent upstream as the request body.
pub enum Outgoing {
    /// The client's body, streamed as it arrives.
    Streamed(Body),
    /// The client's body, read whole to find the task it names.
    Read(Bytes),
}

const NO_SUCH_TASK: ApiError = ApiError::NotFound("no such task for this tenant");
const NOT_ON_SHARED_KEY: ApiError =
    ApiError::NotFound("no such route through the provider's shared key");

/// Lets the request through when `route` touches only the tenant's own tasks; otherwise
/// 404, exactly as for a task that never existed.
pub async fn admit(
    store: &dyn TaskStore,
    tenant: &str,
    provider: &str,
    route: &PassthroughRoute,
    body: Body,
    body_limit: usize,
) -> Result<Outgoing, ApiError> {
    match route {
        PassthroughRoute::Create | PassthroughRoute::Unowned => Ok(Outgoing::Streamed(body)),
        PassthroughRoute::Account => Err(NOT_ON_SHARED_KEY),
        PassthroughRoute::Task(id) => {
            ensure_owned(store, tenant, provider, id).await?;
            Ok(Outgoing::Streamed(body))
        }
        PassthroughRoute::TaskInBody(field) => {
            let bytes = read_body(body, body_limit).await?;
            // Strict: with `task_id` twice, the provider might read the other one than we
            // checked.
            let id = strict_json::parse(&bytes)
                .ok()
                .and_then(|v| v.get(*field).and_then(|id| id.as_str()).map(str::to_owned))
                .ok_or(NO_SUCH_TASK)?;
            ensure_owned(store, tenant, provider, &id).await?;
            Ok(Outgoing::Read(bytes))
        }
    }
}

async fn ensure_owned(
    store: &dyn TaskStore,
    tenant: &str,
    provider: &str,
    provider_task_id: &str,
) -> Result<(), ApiError> {
    if store
        .owns_provider_task(tenant, provider, provider_task_id)
        .await?
    {
        Ok(())
    } else {
        Err(NO_SUCH_TASK)
    }
}

/// Reads a successful create answer (small JSON; bounded all the same), records the task it
/// names as the tenant's, and gives the bytes back to pass on unchanged. An answer that
/// names no task is passed on as it is.
pub async fn record_created(
    store: &dyn TaskStore,
    tenant: &str,
    provider: &Provider,
    status: u16,
    answer: reqwest::Response,
) -> Result<Bytes, ApiError> {
    let body = read_bounded(answer).await.map_err(|e| {
        tracing::warn!(provider = %provider.name(), error = %e.message, "pass-through create answer unreadable");
        ApiError::Upstream(format!(
            "provider {} answered the create unreadably",
            provider.name()
        ))
    })?;
    if let Some(id) = provider.created_task_id(status, body.clone()) {
        // Without the record the tenant could not read its own task, so a store failure is
        // the create's failure: the client is told, and may look the task up by other means.
        store
            .record_passthrough_task(provider.name(), &id, tenant, chrono::Utc::now())
            .await?;
    }
    Ok(body)
}
