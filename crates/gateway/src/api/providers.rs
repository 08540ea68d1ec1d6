//! `GET /v1/providers`: the providers this tenant can use, what they run, their health.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use taskgate_core::TaskType;

use crate::api::openapi::responses::{
    GatewayTimeout, HeaderFieldsTooLarge, Internal, RequestTimeout, TooManyRequests, Unauthorized,
};
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
        (status = 504, response = GatewayTimeout),
    ),
    security(("bearer" = [])))]
pub async fn list_providers(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<ProviderList> {
    let now = tokio::time::Instant::now();
    let tenant = caller.tenant_config();
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
            }
        })
        .collect();
    Json(ProviderList {
        object: "list",
        data,
    })
}
