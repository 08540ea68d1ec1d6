//! `ANY /proxy/{provider}/{*path}`: the pass-through. Forwards the request to the
//! provider's base URL + path with the tenant's upstream key, under the provider's rate
//! budget and circuit, streaming both bodies. The provider's answer, whatever its status,
//! goes back as it came (less hop-by-hop headers); only the gateway's own refusals
//! (unknown provider, limits, unreachable provider) have the contract's error shape.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Extension;
use taskgate_core::{FailureClass, UpstreamError};

use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::layers::auth::Caller;
use crate::layers::request_id::{RequestId, X_REQUEST_ID};
use crate::passthrough::body::{streamed, BodyFault, BodyWatch};
use crate::passthrough::headers;
use crate::passthrough::target::{provider_name, upstream_url};
use crate::passthrough::PassedThrough;
use crate::state::AppState;
use crate::traffic::upstream::CallError;

const NO_SUCH_PROVIDER: ApiError = ApiError::NotFound("no such provider");

/// Forwards one request to a provider and streams its answer back.
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
    let key = upstream.provider.key(tenant.upstream_keys.get(name));
    let request_id = request.extensions().get::<RequestId>().cloned();
    let body_limit = request.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
    let (parts, body) = request.into_parts();

    let mut outgoing = headers::to_upstream(&parts.headers);
    let mut auth = HeaderValue::try_from(format!("Bearer {}", key.expose()))
        .map_err(|_| ApiError::Internal)?;
    auth.set_sensitive(true);
    outgoing.insert(header::AUTHORIZATION, auth);
    for (dialect_name, value) in upstream.provider.dialect_headers() {
        if let Ok(value) = HeaderValue::try_from(value.as_str()) {
            outgoing.insert(*dialect_name, value);
        }
    }
    if let Some(RequestId(id)) = request_id {
        if let Ok(value) = HeaderValue::try_from(id) {
            outgoing.insert(X_REQUEST_ID.clone(), value);
        }
    }

    let watch = BodyWatch::default();
    let http = upstream.provider.http().clone();
    let mut builder = http.request(parts.method, url).headers(outgoing);
    if let Some(body) = streamed(body, &watch) {
        builder = builder.body(body);
    }
    let outgoing = builder.build().map_err(|e| {
        tracing::warn!(provider = %name, error = %e.without_url(), "pass-through request not buildable");
        ApiError::InvalidRequest("the request cannot be forwarded".into())
    })?;
    let sent = upstream
        .forward(|| async {
            http.execute(outgoing)
                .await
                .map_err(|e| transport_error(e, &watch))
        })
        .await;
    match sent {
        Ok(answer) => Ok(passed_back(answer)),
        Err(e) => Err(refusal(name, e, watch.fault(), body_limit)),
    }
}

/// The provider's answer with its status, end-to-end headers and streamed body.
fn passed_back(answer: reqwest::Response) -> Response {
    let status = answer.status();
    let kept = headers::end_to_end(answer.headers());
    let mut response = Response::new(Body::from_stream(answer.bytes_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = kept;
    response.extensions_mut().insert(PassedThrough);
    response
}

/// A failure before any answer. The client's own broken or oversized body is not the
/// provider's doing, so it is classed as a rejection (the circuit ignores those).
fn transport_error(e: reqwest::Error, watch: &BodyWatch) -> UpstreamError {
    let e = e.without_url();
    let message = error_chain(&e);
    if watch.fault().is_some() {
        UpstreamError::new(FailureClass::Rejected, message)
    } else if e.is_connect() {
        UpstreamError::new(FailureClass::NoEffect, message).transient()
    } else if e.is_timeout() {
        UpstreamError {
            timed_out: true,
            ..UpstreamError::new(FailureClass::OutcomeUnknown, message)
        }
    } else {
        UpstreamError::new(FailureClass::OutcomeUnknown, message)
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn refusal(
    provider: &str,
    error: CallError,
    fault: Option<BodyFault>,
    body_limit: usize,
) -> ApiError {
    match (fault, error) {
        (Some(BodyFault::TooLarge), _) => ApiError::PayloadTooLarge { limit: body_limit },
        (Some(BodyFault::Broken), _) => {
            ApiError::InvalidRequest("the request body could not be read".into())
        }
        (None, CallError::RateLimited { retry_after }) => ApiError::RateLimited {
            message: format!("provider {provider} is at its rate limit"),
            retry_after,
        },
        (None, CallError::CircuitOpen) => {
            ApiError::Unavailable(format!("provider {provider} is unhealthy; try again later"))
        }
        (None, CallError::Unsupported(_)) => ApiError::Internal,
        (None, CallError::Upstream(e)) => {
            tracing::warn!(provider = %provider, class = e.class.as_str(), error = %e.message, "pass-through call failed");
            if e.timed_out {
                ApiError::UpstreamTimeout(format!("provider {provider} did not answer in time"))
            } else {
                ApiError::Upstream(format!("provider {provider} could not be reached"))
            }
        }
    }
}
