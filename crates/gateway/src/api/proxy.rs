//! `ANY /proxy/{provider}/{*path}`: the pass-through. Forwards the request to the
//! provider's base URL + path with the tenant's upstream key, under the provider's rate
//! budget and circuit, streaming both bodies. The provider's answer, whatever its status,
//! goes back as it came (less hop-by-hop headers); only the gateway's own refusals
//! (unknown provider, limits, unreachable provider) have the contract's error shape. On a
//! provider key shared by several tenants, a request that names a provider task goes
//! through only for the caller's own tasks (`passthrough/ownership.rs`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use taskgate_core::PassthroughRoute;

use crate::client_body::ClientBody;
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::layers::auth::Caller;
use crate::layers::request_id::RequestId;
use crate::passthrough::body::streamed;
use crate::passthrough::failure::{refusal, transport_error};
use crate::passthrough::headers;
use crate::passthrough::ownership::{self, Outgoing};
use crate::passthrough::target::{provider_name, provider_path, upstream_url};
use crate::passthrough::PassedThrough;
use crate::state::AppState;

const NO_SUCH_PROVIDER: ApiError = ApiError::NotFound("no such provider");

/// Forward a request to a provider (pass-through) and stream its answer back.
///
/// Every answer but the gateway's own refusals is the provider's, passed through as it came:
/// any status, any headers (less hop-by-hop ones), any body. So no status here promises the
/// gateway's error shape: a `404` may be the gateway's `not_found` (no such provider) or the
/// provider's own `404`. The gateway's refusals carry its `x-request-id` and the shape
/// `{"error":{"code","message","request_id"}}`.
#[utoipa::path(method(get, post, put, patch, delete), path = "/proxy/{provider}/{path}",
    tag = "pass-through",
    params(
        ("provider" = String, Path, description = "A provider of the config that the tenant may use."),
        ("path" = String, Path, description = "The rest of the provider's path, slashes included; the query string goes along."),
    ),
    responses(
        (status = "default", description = "The provider's answer: its status, headers (less hop-by-hop ones) and body as it sent them.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 400, description = "The gateway's `invalid_request` (a dot segment in the path in any spelling; a request that cannot be forwarded), or the provider's own `400`.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 401, description = "The gateway's `unauthorized` (no or unknown bearer key), or the provider's own `401`.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 404, description = "The gateway's `not_found` (no such provider for this tenant; on the provider's shared key, a provider task that is not the tenant's, or an account-wide route), or the provider's own `404`.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 408, description = "The gateway's `request_timeout` (the request did not arrive in time), or the provider's own `408`.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 413, description = "The gateway's `payload_too_large` (the body is over `server.max_body_bytes`), or the provider's own `413`.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 429, description = "The gateway's `rate_limited` (the tenant's or the provider's rate limit, with `Retry-After`), or the provider's own `429`.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 431, description = "The gateway's `request_header_fields_too_large`, or the provider's own `431`.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 502, description = "The gateway's `upstream_error` (the provider could not be reached), or the provider's own `502`.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 503, description = "The gateway's `unavailable` (the provider's circuit is open), or the provider's own `503`.",
            headers(("x-request-id" = String, description = "The request's id."))),
        (status = 504, description = "The gateway's `upstream_timeout` (no answer within the provider's timeout), or the provider's own `504`.",
            headers(("x-request-id" = String, description = "The request's id."))),
    ),
    security(("bearer" = [])))]
pub async fn forward(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Request,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant_config().ok_or(ApiError::Unauthorized)?;
    let name = provider_name(request.uri())
        .ok_or(NO_SUCH_PROVIDER)?
        .to_string();
    let name = name.as_str();
    if !tenant.may_use(name) {
        return Err(NO_SUCH_PROVIDER);
    }
    let upstream = state
        .upstream(&caller.runtime, name)
        .ok_or(NO_SUCH_PROVIDER)?;
    let url = upstream_url(upstream.provider.base_url(), request.uri(), name)?;
    let own_key = tenant.upstream_keys.get(name);
    let key = upstream.provider.key(own_key);
    // On the provider's shared key the provider cannot tell tenants apart: the gateway is
    // what keeps each to its own tasks.
    let route = match own_key {
        Some(_) => None,
        None => provider_path(request.uri(), name)
            .map(|path| upstream.provider.passthrough_route(request.method(), path)),
    };
    let request_id = request.extensions().get::<RequestId>().cloned();
    // Set by the deadline layer for a request with a body.
    let client = request
        .extensions()
        .get::<ClientBody>()
        .cloned()
        .unwrap_or_default();
    let body_limit = request.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
    let (parts, body) = request.into_parts();
    let body = match &route {
        Some(route) => {
            ownership::admit(
                state.store.as_ref(),
                &caller.tenant,
                name,
                route,
                body,
                body_limit,
            )
            .await?
        }
        None => Outgoing::Streamed(body),
    };

    let outgoing = headers::to_upstream(
        &parts.headers,
        key,
        upstream.provider.dialect_headers(),
        request_id.as_ref().map(|r| r.0.as_str()),
    )
    .ok_or(ApiError::Internal)?;
    let http = upstream.provider.http().clone();
    let mut builder = http.request(parts.method, url).headers(outgoing);
    match body {
        Outgoing::Streamed(body) => {
            if let Some(body) = streamed(body, &client) {
                builder = builder.body(body);
            }
        }
        Outgoing::Read(bytes) => builder = builder.body(bytes),
    }
    let outgoing = builder.build().map_err(|e| {
        tracing::warn!(provider = %name, error = %e.without_url(), "pass-through request not buildable");
        ApiError::InvalidRequest("the request cannot be forwarded".into())
    })?;
    let sent = upstream
        .forward(|| async {
            http.execute(outgoing)
                .await
                .map_err(|e| transport_error(e, &client))
        })
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return Err(refusal(name, e, client.fault(), body_limit)),
    };
    if route == Some(PassthroughRoute::Create) && answer.status().is_success() {
        let status = answer.status();
        let kept = headers::end_to_end(answer.headers());
        let body = ownership::record_created(
            state.store.as_ref(),
            &caller.tenant,
            upstream.provider,
            status.as_u16(),
            answer,
        )
        .await?;
        return Ok(passed_back_parts(status, kept, Body::from(body)));
    }
    Ok(passed_back(answer))
}

/// The provider's answer with its status, end-to-end headers and streamed body.
fn passed_back(answer: reqwest::Response) -> Response {
    let status = answer.status();
    let kept = headers::end_to_end(answer.headers());
    passed_back_parts(status, kept, Body::from_stream(answer.bytes_stream()))
}

fn passed_back_parts(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response.extensions_mut().insert(PassedThrough);
    response
}
