//! `GET /openapi.json`: the API as OpenAPI 3.1, generated from the handlers and types.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The error shape every non-2xx answer has.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code: invalid_request, unauthorized, not_found, method_not_allowed, conflict,
    /// cancel_unsupported, request_timeout, payload_too_large,
    /// request_header_fields_too_large, unsupported_task_type, rate_limited,
    /// concurrency_limited, internal, upstream_error, unavailable, upstream_timeout.
    pub code: String,
    pub message: String,
    pub request_id: String,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// One handler serves every method of the pass-through; OpenAPI wants one operation id per
/// method, so each gets `proxy_<method>`.
struct PassThroughIds;

impl Modify for PassThroughIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(item) = openapi.paths.paths.get_mut("/proxy/{provider}/{path}") else {
            return;
        };
        let operations = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                operation.operation_id = Some(format!("proxy_{method}"));
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "taskgate", description = "One stable API for asynchronous video and image tasks across providers."),
    paths(
        crate::api::tasks::create_task,
        crate::api::tasks::get_task,
        crate::api::tasks::list_tasks,
        crate::api::tasks::cancel_task,
        crate::api::tasks::task_events,
        crate::api::providers::list_providers,
        crate::api::proxy::forward,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth, &PassThroughIds)
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
