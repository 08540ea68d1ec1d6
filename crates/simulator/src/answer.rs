//! Writing JSON answers, whole or deliberately cut short.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

/// The JSON text of `value` (`{}` should it not serialize).
pub(crate) fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

/// Serializes `value` straight into the answer body.
pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    with_body(status, to_bytes(value))
}

/// HTTP 200 with this JSON text.
pub(crate) fn ok(bytes: Vec<u8>) -> Response {
    with_body(StatusCode::OK, bytes)
}

/// HTTP 200 with the first half of this JSON text: an answer no parser accepts.
pub(crate) fn cut(mut bytes: Vec<u8>) -> Response {
    bytes.truncate((bytes.len() / 2).max(1));
    with_body(StatusCode::OK, bytes)
}

/// An empty answer (e.g. 204 for a cancel).
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

fn with_body(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
