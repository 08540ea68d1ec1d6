//! `ANY /_sim/echo`: for pass-through tests. Streams the request body back as it arrives
//! (never buffered, any size) and reports what arrived in response headers:
//! `x-sim-echo-method`, `x-sim-echo-uri`, and `x-sim-echo-headers` (a JSON object of
//! lowercase header name → list of values). The answer also carries hop-by-hop headers
//! (`Connection: x-sim-hop`, `x-sim-hop`, `Proxy-Authenticate`) that a proxy must drop.
//! Needs no key.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::any;
use axum::Router;

use crate::state::SimState;

pub(crate) fn routes() -> Router<SimState> {
    Router::new().route("/_sim/echo", any(echo))
}

async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut seen: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        seen.entry(name.as_str())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let mut response = Response::new(Body::new(body));
    let headers = response.headers_mut();
    let report = [
        ("x-sim-echo-method", parts.method.to_string()),
        ("x-sim-echo-uri", parts.uri.to_string()),
        (
            "x-sim-echo-headers",
            serde_json::to_string(&seen).unwrap_or_default(),
        ),
    ];
    for (name, value) in report {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, ct.clone());
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("x-sim-hop"));
    headers.insert("x-sim-hop", HeaderValue::from_static("1"));
    headers.insert(
        header::PROXY_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"sim\""),
    );
    response
}
