//! The two routers and the layer stack, in one screen.

use std::time::Duration;

use axum::http::Request;
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::api::{admin, callbacks, openapi, providers, tasks};
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::layers::auth::AuthLayer;
use crate::layers::request_id::{RequestId, RequestIdLayer};
use crate::layers::rescue::RescueLayer;
use crate::state::AppState;
use crate::traffic::tenant_limit::TenantLimitLayer;

async fn no_such_route() -> ApiError {
    ApiError::NotFound("no such route")
}

fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.as_str())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
        tenant = tracing::field::Empty,
    )
}

/// Wraps a router in the layers every listener shares, outermost first.
fn with_common_layers(router: Router, body_limit: usize, timeout: Duration) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(RequestIdLayer)
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(RescueLayer { body_limit })
            .layer(CatchPanicLayer::new())
            .layer(RequestBodyLimitLayer::new(body_limit))
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::GATEWAY_TIMEOUT,
                timeout,
            ))
            .layer(Extension(BodyLimit(body_limit))),
    )
}

/// The tenant listener: the task API behind bearer auth, and the OpenAPI document.
pub fn tenant_router(state: AppState) -> Router {
    let snapshot = state.runtime.load();
    let body_limit = snapshot.config.server.max_body_bytes;
    let timeout = snapshot.config.server.request_timeout;
    let authed = Router::new()
        .route("/v1/tasks", post(tasks::create_task).get(tasks::list_tasks))
        .route("/v1/tasks/{id}", get(tasks::get_task))
        .route("/v1/tasks/{id}/cancel", post(tasks::cancel_task))
        .route("/v1/tasks/{id}/events", get(tasks::task_events))
        .route("/v1/providers", get(providers::list_providers))
        .route_layer(TenantLimitLayer::new(state.tenant_budgets.clone()))
        .route_layer(AuthLayer::new(state.runtime.clone()));
    let router = Router::new()
        .merge(authed)
        .route("/openapi.json", get(openapi::openapi_json))
        .route(
            "/callbacks/{tenant}/{id}/{token}",
            post(callbacks::provider_callback),
        )
        .fallback(no_such_route)
        .with_state(state);
    with_common_layers(router, body_limit, timeout)
}

/// The admin listener: health, readiness, the OpenAPI document.
pub fn admin_router(state: AppState) -> Router {
    let snapshot = state.runtime.load();
    let timeout = snapshot.config.server.request_timeout;
    let router = Router::new()
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(no_such_route)
        .with_state(state);
    with_common_layers(router, 64 * 1024, timeout)
}
