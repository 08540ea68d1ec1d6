//! The API's errors and the one place they become the contract's HTTP answer.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::layers::request_id::current_request_id;
use crate::queue::runnable::NoRunnableProvider;

/// Everything a client can be told went wrong. Messages are safe to show: they never hold
/// secrets or raw upstream bodies (those go to the log with the request id).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("a valid bearer key is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// The file's size.
    #[error("the range starts past the end of the file ({0} bytes)")]
    RangeNotSatisfiable(u64),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("this task's provider cannot cancel tasks")]
    CancelUnsupported,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the client did not send its request in time")]
    RequestTimeout,
    #[error("the request headers are too many or too large")]
    HeaderFieldsTooLarge,
    #[error("{0}")]
    UnsupportedTaskType(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    #[error("the tenant's limit of unfinished tasks is reached")]
    ConcurrencyLimited,
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    UpstreamTimeout(String),
    #[error("internal error")]
    Internal,
}

/// The contract's `code` of an error answer, on the response for the layers that count
/// refusals (request metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    request_id: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::CancelUnsupported => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::HeaderFieldsTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::UnsupportedTaskType(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } | ApiError::ConcurrencyLimited => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The contract's stable `code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::RangeNotSatisfiable(_) => "range_not_satisfiable",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::CancelUnsupported => "cancel_unsupported",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::HeaderFieldsTooLarge => "request_header_fields_too_large",
            ApiError::UnsupportedTaskType(_) => "unsupported_task_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::ConcurrencyLimited => "concurrency_limited",
            ApiError::Upstream(_) => "upstream_error",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::UpstreamTimeout(_) => "upstream_timeout",
            ApiError::Internal => "internal",
        }
    }

    pub fn task_not_found() -> ApiError {
        ApiError::NotFound("no such task")
    }

    /// The whole request outlived `server.request_timeout` while the gateway was working
    /// (not while it waited for the client).
    pub fn request_took_too_long() -> ApiError {
        ApiError::UpstreamTimeout("the request took longer than the gateway allows".into())
    }

    /// The answer for a response the framework made without a body (unknown route, 405, 413,
    /// a timeout).
    pub fn for_bare_status(status: StatusCode, body_limit: usize) -> Option<ApiError> {
        Some(match status {
            StatusCode::NOT_FOUND => ApiError::NotFound("no such route"),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: body_limit },
            StatusCode::REQUEST_TIMEOUT => ApiError::RequestTimeout,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeaderFieldsTooLarge,
            StatusCode::GATEWAY_TIMEOUT => ApiError::request_took_too_long(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::BAD_REQUEST => {
                ApiError::InvalidRequest("the request could not be read".into())
            }
            s if s.is_server_error() => ApiError::Internal,
            _ => return None,
        })
    }
}

/// No provider of the create's list can run its type here: `422 unsupported_task_type`, with
/// each provider's reason (a missing `server.public_url` is named).
impl From<NoRunnableProvider> for ApiError {
    fn from(e: NoRunnableProvider) -> ApiError {
        ApiError::UnsupportedTaskType(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                request_id: current_request_id().unwrap_or_default(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        if let ApiError::RequestTimeout = self {
            // The client's request is unfinished on this connection (RFC 9110, 408); HTTP/2
            // leaves connection headers out, so this only closes HTTP/1 connections.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let ApiError::RateLimited { retry_after, .. } = &self {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
