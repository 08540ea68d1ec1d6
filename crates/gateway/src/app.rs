//! The two routers and the layer stack, in one screen.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Router};
use taskgate_config::ServerConfig;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::api::{admin, callbacks, files, metrics, openapi, providers, proxy, tasks};
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::layers::auth::AuthLayer;
use crate::layers::deadline::DeadlineLayer;
use crate::layers::header_limit::HeaderLimitLayer;
use crate::layers::metrics::{MetricsLayer, UNMATCHED};
use crate::layers::request_id::{RequestId, RequestIdLayer};
use crate::layers::rescue::RescueLayer;
use crate::layers::tenant_limit::TenantLimitLayer;
use crate::metrics::Metrics;
use crate::state::AppState;

async fn no_such_route() -> ApiError {
    ApiError::NotFound("no such route")
}

fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.as_str())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        path = %request.uri().path(),
        request_id = %request_id,
        tenant = tracing::field::Empty,
    )
}

/// The one line per request: its span (id, tenant, route) carries the rest.
fn log_response<B>(response: &Response<B>, latency: Duration, _span: &tracing::Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request finished"
    );
}

/// Wraps a router in the layers every listener shares, outermost first.
fn with_common_layers(
    router: Router,
    body_limit: usize,
    server: &ServerConfig,
    metrics: Arc<Metrics>,
) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(RequestIdLayer)
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(log_response),
            )
            .layer(MetricsLayer::new(metrics))
            .layer(HeaderLimitLayer {
                max_count: server.max_header_count,
                max_bytes: server.max_header_bytes,
            })
            .layer(RescueLayer { body_limit })
            .layer(CatchPanicLayer::new())
            .layer(RequestBodyLimitLayer::new(body_limit))
            .layer(DeadlineLayer {
                request: server.request_timeout,
                body_idle: server.body_read_timeout,
            })
            .layer(Extension(BodyLimit(body_limit))),
    )
}

/// The tenant listener: the task API behind bearer auth, and the OpenAPI document.
pub fn tenant_router(state: AppState) -> Router {
    let snapshot = state.runtime.load();
    let server = &snapshot.config.server;
    let body_limit = server.max_body_bytes;
    let registry = state.metrics.clone();
    let authed = Router::new()
        .route("/v1/tasks", post(tasks::create_task).get(tasks::list_tasks))
        .route("/v1/tasks/{id}", get(tasks::get_task))
        .route("/v1/tasks/{id}/cancel", post(tasks::cancel_task))
        .route("/v1/tasks/{id}/events", get(tasks::task_events))
        .route("/v1/providers", get(providers::list_providers))
        .route("/proxy/{provider}/{*path}", any(proxy::forward))
        .route_layer(TenantLimitLayer::new(state.gate.clone()))
        .route_layer(AuthLayer::new(state.runtime.clone()));
    let router = Router::new()
        .merge(authed)
        .route("/openapi.json", get(openapi::openapi_json))
        // Its own authentication: a tenant key, or a signed URL (for browsers and players).
        .route("/v1/files/{task_id}/{index}", get(files::serve_file))
        .route(
            "/callbacks/{tenant}/{id}/{token}",
            post(callbacks::provider_callback),
        )
        .fallback(no_such_route)
        .with_state(state);
    with_common_layers(router, body_limit, server, registry)
}

/// The admin listener: health, readiness, metrics, the OpenAPI document.
pub fn admin_router(state: AppState) -> Router {
    let snapshot = state.runtime.load();
    let registry = state.metrics.clone();
    let router = Router::new()
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(no_such_route)
        .with_state(state);
    with_common_layers(router, 64 * 1024, &snapshot.config.server, registry)
}
