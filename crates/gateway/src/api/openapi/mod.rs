//! `GET /openapi.json`: the API as OpenAPI 3.1, generated from the handlers and types.

pub mod create_body;
mod finish;
pub mod responses;

use std::sync::LazyLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use responses::{ErrorBody, ErrorDetail};

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
    info(title = "taskgate", description = "One stable API for asynchronous video and image tasks across providers.\n\nEvery answer the gateway writes itself carries `x-request-id`, and every error it writes has the shape `{\"error\":{\"code\",\"message\",\"request_id\"}}` (the codes are listed under `ErrorDetail.code`). The pass-through (`/proxy/...`) is the exception: the provider's answers come back as the provider sent them."),
    paths(
        crate::api::tasks::create_task,
        crate::api::tasks::get_task,
        crate::api::tasks::list_tasks,
        crate::api::tasks::cancel_task,
        crate::api::tasks::task_events,
        crate::api::providers::list_providers,
        crate::api::proxy::forward,
        crate::api::callbacks::provider_callback,
        crate::api::files::serve_file,
    ),
    components(
        schemas(ErrorBody, ErrorDetail),
        responses(
            responses::BadRequest,
            responses::Unauthorized,
            responses::Forbidden,
            responses::RangeNotSatisfiable,
            responses::NotFound,
            responses::MethodNotAllowed,
            responses::RequestTimeout,
            responses::Conflict,
            responses::CancelConflict,
            responses::PayloadTooLarge,
            responses::UnsupportedTaskType,
            responses::TooManyRequests,
            responses::HeaderFieldsTooLarge,
            responses::Internal,
            responses::BadGateway,
            responses::Unavailable,
            responses::GatewayTimeout,
        ),
    ),
    modifiers(&BearerAuth, &PassThroughIds)
)]
pub struct ApiDoc;

/// The document as served: generated once, then finished as JSON (see `finish`).
static DOCUMENT: LazyLock<bytes::Bytes> = LazyLock::new(|| finish::finished(ApiDoc::openapi()));

pub async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::create::MAX_IDEMPOTENCY_KEY;

    #[test]
    fn the_documented_idempotency_key_limit_is_the_one_create_checks() {
        let doc: serde_json::Value = serde_json::from_slice(&DOCUMENT).unwrap();
        let key = doc["paths"]["/v1/tasks"]["post"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .cloned()
            .unwrap();
        assert_eq!(key["schema"]["maxLength"], MAX_IDEMPOTENCY_KEY);
        assert_eq!(key["schema"]["type"], "string");
    }
}
