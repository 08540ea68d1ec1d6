//! The gateway's own error answers as reusable OpenAPI responses: one per status, each with
//! the contract's error shape and the headers that status carries. Handlers list the ones
//! they can answer (`(status = 404, response = NotFound)`).

use serde::Serialize;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::ToResponse;

/// The error shape every answer the gateway writes itself has (not the pass-through's
/// provider answers, which come back as the provider sent them).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable; new codes may be added.
    ///
    /// | HTTP | code | when |
    /// | --- | --- | --- |
    /// | 400 | `invalid_request` | malformed JSON, a duplicated key, wrong types, missing or unknown fields, bad values, a bad query or header; a pass-through path with a dot segment |
    /// | 401 | `unauthorized` | no key, unknown key |
    /// | 403 | `forbidden` | a `/v1/files` URL whose signature is wrong or expired |
    /// | 404 | `not_found` | no such task for this tenant, unknown route, unknown provider; on a shared provider key, a provider task that is not the tenant's |
    /// | 405 | `method_not_allowed` | a known route with another method (`Allow` lists the right ones) |
    /// | 408 | `request_timeout` | the client did not send its request (headers and body) in time |
    /// | 409 | `conflict` | an `Idempotency-Key` reused with a different body (or still in progress); cancel of a finished task |
    /// | 409 | `cancel_unsupported` | the task's provider cannot cancel |
    /// | 413 | `payload_too_large` | body over the configured limit |
    /// | 416 | `range_not_satisfiable` | a `/v1/files` `Range` that starts past the file's end (`Content-Range: bytes */size`) |
    /// | 422 | `unsupported_task_type` | no provider configured for this tenant can run this `type` |
    /// | 429 | `rate_limited` | a tenant or provider limit; `Retry-After` (seconds) is set |
    /// | 429 | `concurrency_limited` | the tenant's cap on unfinished tasks is reached |
    /// | 431 | `request_header_fields_too_large` | too many or too large request headers |
    /// | 500 | `internal` | a fault of the gateway itself |
    /// | 502 | `upstream_error` | the provider failed or answered nonsense, after retries and fallbacks |
    /// | 503 | `unavailable` | every provider on the route is unhealthy (circuit open), or the task store is unreachable |
    /// | 504 | `upstream_timeout` | the provider did not answer in time, after retries and fallbacks; or the request took longer than `server.request_timeout` |
    #[schema(example = "not_found")]
    pub code: String,
    /// For people; safe to show, never holds secrets or a provider's raw answer.
    pub message: String,
    /// The request's `x-request-id`, to find it in the gateway's logs.
    pub request_id: String,
}

/// Headers the OpenAPI document marks `required`, wherever a response lists them (utoipa's
/// `Header` has no such field; the document is finished as JSON, see `finish`).
pub const REQUIRED_HEADERS: [&str; 3] = ["x-request-id", "Location", "Retry-After"];

fn header(kind: Type, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(kind))
        .description(Some(description))
        .build()
}

/// Echoed when the client sent a usable one, generated otherwise; on every answer.
pub fn request_id_header() -> Header {
    header(
        Type::String,
        "The request's id: the client's own when it sent a usable one (1 to 128 visible ASCII \
         characters), else one the gateway made. On every answer.",
    )
}

/// The tenant rate limit's state, on every answer of a tenant that has one
/// (draft-ietf-httpapi-ratelimit-headers).
pub fn rate_limit_headers() -> [(&'static str, Header); 2] {
    [
        (
            "RateLimit-Policy",
            header(
                Type::String,
                "The tenant's rate limit, e.g. `\"tenant\";q=600;w=60`; present when the tenant has one.",
            ),
        ),
        (
            "RateLimit",
            header(
                Type::String,
                "What is left of it, e.g. `\"tenant\";r=599;t=1`; present when the tenant has one.",
            ),
        ),
    ]
}

/// A response of the error shape with `x-request-id`.
fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .header("x-request-id", request_id_header())
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident => $description:expr;)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), error_response($description).build().into())
                }
            }
        )*
    };
}

error_responses! {
    BadRequest => "`invalid_request`: the request is malformed or a value is not allowed; the message names it.";
    Unauthorized => "`unauthorized`: no bearer key, or an unknown one.";
    Forbidden => "`forbidden`: the URL's signature is wrong or expired (read the task again for a fresh URL).";
    RangeNotSatisfiable => "`range_not_satisfiable`: the `Range` starts past the file's end; `Content-Range: bytes */size` says its size.";
    NotFound => "`not_found`: no such task for this tenant (another tenant's task too), or no such route.";
    RequestTimeout => "`request_timeout`: the request (headers and body) did not arrive in time.";
    Conflict => "`conflict`: the `Idempotency-Key` was used with a different body, or its first request is still in progress.";
    PayloadTooLarge => "`payload_too_large`: the body is over `server.max_body_bytes`.";
    UnsupportedTaskType => "`unsupported_task_type`: no provider this tenant may use can run the task type (or the pinned provider cannot).";
    HeaderFieldsTooLarge => "`request_header_fields_too_large`: too many or too large request headers.";
    Internal => "`internal`: a fault of the gateway itself.";
    BadGateway => "`upstream_error`: the provider failed or answered nonsense, after retries and fallbacks.";
    Unavailable => "`unavailable`: every provider on the route is unhealthy (circuit open), or the task store cannot be reached.";
    GatewayTimeout => "`upstream_timeout`: the provider did not answer in time, or the request took longer than `server.request_timeout`.";
}

/// `409` of the cancel route.
pub struct CancelConflict;

impl<'r> ToResponse<'r> for CancelConflict {
    fn response() -> (&'r str, RefOr<Response>) {
        let description = "`conflict`: the task is finished already; or `cancel_unsupported`: \
                           its provider cannot cancel.";
        ("CancelConflict", error_response(description).build().into())
    }
}

/// `429`, with `Retry-After`.
pub struct TooManyRequests;

impl<'r> ToResponse<'r> for TooManyRequests {
    fn response() -> (&'r str, RefOr<Response>) {
        let description = "`rate_limited` (the tenant's or the provider's rate limit) or \
                           `concurrency_limited` (the tenant's cap on unfinished tasks); retry \
                           after `Retry-After` seconds.";
        let mut response = error_response(description).header(
            "Retry-After",
            header(Type::Integer, "Seconds to wait before trying again."),
        );
        for (name, value) in rate_limit_headers() {
            response = response.header(name, value);
        }
        ("TooManyRequests", response.build().into())
    }
}

/// `405`, with `Allow`. No documented operation answers it: it is the answer of a known path
/// asked with a method the path does not have.
pub struct MethodNotAllowed;

impl<'r> ToResponse<'r> for MethodNotAllowed {
    fn response() -> (&'r str, RefOr<Response>) {
        let description = "`method_not_allowed`: the path exists, but not with this method.";
        let response = error_response(description).header(
            "Allow",
            header(Type::String, "The methods the path has, e.g. `GET, POST`."),
        );
        ("MethodNotAllowed", response.build().into())
    }
}
