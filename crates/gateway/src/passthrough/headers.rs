//! Which headers cross the gateway in a pass-through. Hop-by-hop headers (RFC 9110 §7.6.1)
//! are about one connection, so they stop here both ways, as do `Host` (the upstream's is
//! set by the client library) and, on the way in, the client's own credentials.

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use taskgate_core::Secret;

use crate::layers::request_id::X_REQUEST_ID;

/// Hop-by-hop headers, lowercase; any `proxy-*` header is one too.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// The header names listed in `Connection`, lowercase.
fn named_in_connection(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &HeaderName, named: &[String]) -> bool {
    let name = name.as_str();
    HOP_BY_HOP.contains(&name) || name.starts_with("proxy-") || named.iter().any(|n| n == name)
}

/// `headers` without hop-by-hop ones and `Host`.
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named = named_in_connection(headers);
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !is_hop_by_hop(name, &named) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// The headers of the upstream request: the client's end-to-end headers, its
/// `Authorization` replaced by the upstream `key` (marked sensitive, so it never prints),
/// the dialect's headers, and the request id. `Expect: 100-continue` was the gateway's to
/// answer, so it stops here. `None` if the key is not a header value.
pub fn to_upstream(
    client: &HeaderMap,
    key: &Secret,
    dialect: &[(&'static str, String)],
    request_id: Option<&str>,
) -> Option<HeaderMap> {
    let mut headers = end_to_end(client);
    headers.remove(header::EXPECT);
    let mut auth = HeaderValue::try_from(format!("Bearer {}", key.expose())).ok()?;
    auth.set_sensitive(true);
    headers.insert(header::AUTHORIZATION, auth);
    for (name, value) in dialect {
        if let Ok(value) = HeaderValue::try_from(value.as_str()) {
            headers.insert(*name, value);
        }
    }
    if let Some(value) = request_id.and_then(|id| HeaderValue::try_from(id).ok()) {
        headers.insert(X_REQUEST_ID.clone(), value);
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_hop_by_hop_named_and_credential_headers() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, X-Hop"),
            ("keep-alive", "timeout=5"),
            ("x-hop", "1"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic abc"),
            ("proxy-connection", "keep-alive"),
            ("host", "gateway.local"),
            ("authorization", "Bearer tenant-key"),
            ("content-type", "application/json"),
            ("content-length", "12"),
            ("expect", "100-continue"),
            ("x-custom", "a"),
        ] {
            h.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        h.append("x-custom", HeaderValue::from_static("b"));
        let key = Secret::new("upstream-key");
        let dialect = [("x-runway-version", "2024-11-06".to_string())];
        let up = to_upstream(&h, &key, &dialect, Some("req_1")).unwrap();
        let mut names: Vec<&str> = up.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "authorization",
                "content-length",
                "content-type",
                "x-custom",
                "x-request-id",
                "x-runway-version"
            ]
        );
        assert_eq!(up["authorization"], "Bearer upstream-key");
        assert!(up["authorization"].is_sensitive());
        assert_eq!(up.get_all("x-custom").iter().count(), 2);
        assert!(end_to_end(&h).contains_key(header::AUTHORIZATION));
    }
}
