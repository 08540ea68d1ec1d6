//! Extractors whose rejections speak the contract: a bad body or query (or a JSON body with
//! a duplicated key) is a `400 invalid_request` naming the problem, an oversized body a
//! `413`, a body the client stopped sending a `408`.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client_body::BodyFault;
use crate::error::ApiError;
use crate::strict_json;

/// A JSON object body, read within the configured limit, with no key twice in one object.
pub struct JsonBody(pub Value);

/// The body limit for this request; set by the app from the config snapshot.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

pub(crate) fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// The whole request body, within `limit`. A body over the limit, stalled or broken off is
/// the client's error (413, 408, 400).
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| match BodyFault::of(&e) {
            BodyFault::TooLarge => ApiError::PayloadTooLarge { limit },
            BodyFault::Stalled => ApiError::RequestTimeout,
            BodyFault::Broken => {
                ApiError::InvalidRequest("the request body could not be read".into())
            }
        })
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let limit = request
            .extensions()
            .get::<BodyLimit>()
            .map_or(1024 * 1024, |l| l.0);
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.to_ascii_lowercase());
        if let Some(ct) = content_type {
            if !ct.starts_with("application/json") && !ct.contains("+json") {
                return Err(ApiError::InvalidRequest(
                    "Content-Type must be application/json".into(),
                ));
            }
        }
        let bytes = read_body(request.into_body(), limit).await?;
        let value =
            strict_json::parse(&bytes).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        if !value.is_object() {
            return Err(ApiError::InvalidRequest(
                "the body must be a JSON object".into(),
            ));
        }
        Ok(JsonBody(value))
    }
}

/// Query parameters; unknown or malformed ones are a 400 naming the problem.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::InvalidRequest(format!("invalid query: {e}")))
    }
}
