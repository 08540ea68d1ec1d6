//! `GET /v1/providers`: the providers this tenant can use, what they run, their health.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use taskgate_core::TaskType;

use std::collections::BTreeMap;

use crate::api::openapi::responses::{
    GatewayTimeout, HeaderFieldsTooLarge, Internal, RequestTimeout, TooManyRequests, Unauthorized,
    Unavailable,
};
use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::state::AppState;
use crate::traffic::circuit::CircuitState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    /// The provider's name in the config.
    pub id: String,
    /// Its wire dialect (`cometapi_official`, ...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The task types it runs.
    pub task_types: Vec<TaskType>,
    pub can_cancel: bool,
    /// `healthy` or `unhealthy` (circuit open).
    pub health: &'static str,
    /// `providers.X.max_concurrent`: unfinished tasks it may hold at once, all tenants and
    /// replicas together; `null` without a limit.
    pub max_concurrent: Option<u32>,
    /// Unfinished tasks there now, all tenants.
    pub running: u64,
    /// This tenant's tasks waiting in the gateway's queue for it.
    pub queued: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderList {
    pub object: &'static str,
    pub data: Vec<ProviderView>,
}

/// The providers this tenant can use.
#[utoipa::path(get, path = "/v1/providers", tag = "providers",
    responses(
        (status = 200, description = "The providers this tenant can use, what they run, their health.", body = ProviderList,
            headers(
                ("x-request-id" = String, description = "The request's id."),
                ("RateLimit-Policy" = String, description = "The tenant's rate limit, when it has one."),
                ("RateLimit" = String, description = "What is left of it, when the tenant has one."),
            )),
        (status = 401, response = Unauthorized),
        (status = 408, response = RequestTimeout),
        (status = 429, response = TooManyRequests),
        (status = 431, response = HeaderFieldsTooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
        (status = 504, response = GatewayTimeout),
    ),
    security(("bearer" = [])))]
pub async fn list_providers(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ProviderList>, ApiError> {
    let now = tokio::time::Instant::now();
    let tenant = caller.tenant_config();
    let mut running: BTreeMap<String, u64> = BTreeMap::new();
    for count in state.store.count_unfinished_by_provider().await? {
        *running.entry(count.provider).or_default() += count.count;
    }
    let mut queued: BTreeMap<String, u64> = BTreeMap::new();
    for count in state.store.count_waiting(Some(&caller.tenant)).await? {
        for provider in count.candidates {
            *queued.entry(provider).or_default() += count.count;
        }
    }
    let data = caller
        .runtime
        .providers
        .iter()
        .filter(|(name, _)| tenant.is_some_and(|t| t.may_use(name)))
        .map(|(name, provider)| {
            let caps = provider.capabilities();
            ProviderView {
                id: name.clone(),
                kind: provider.kind().as_str(),
                task_types: caps.task_types,
                can_cancel: caps.can_cancel,
                health: match state.guards.circuit(name).map(|c| c.state(now)) {
                    Some(CircuitState::Open | CircuitState::HalfOpen) => "unhealthy",
                    _ => "healthy",
                },
                max_concurrent: caller
                    .runtime
                    .config
                    .providers
                    .get(name)
                    .and_then(|p| p.max_concurrent),
                running: running.get(name).copied().unwrap_or(0),
                queued: queued.get(name).copied().unwrap_or(0),
            }
        })
        .collect();
    Ok(Json(ProviderList {
        object: "list",
        data,
    }))
}
