//! Where a pass-through goes: the provider's base URL, then the client's path after
//! `/proxy/{provider}` exactly as it was sent (still percent-encoded), then its query.

use axum::http::Uri;

use crate::error::ApiError;

/// The provider named in `/proxy/{provider}/...`.
pub fn provider_name(uri: &Uri) -> Option<&str> {
    let rest = uri.path().strip_prefix("/proxy/")?;
    rest.split('/').next().filter(|name| !name.is_empty())
}

/// A dot segment (`.`, `..`, or either percent-encoded) would let the path climb above the
/// base URL once a client library normalizes it.
fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

/// `base` + the path after `/proxy/{provider}` + `?query`.
pub fn upstream_url(base: &str, uri: &Uri, provider: &str) -> Result<String, ApiError> {
    let path = uri
        .path()
        .strip_prefix("/proxy/")
        .and_then(|p| p.strip_prefix(provider))
        .filter(|p| p.starts_with('/'))
        .ok_or(ApiError::NotFound("no such route"))?;
    if path.split('/').any(is_dot_segment) {
        return Err(ApiError::InvalidRequest(
            "the pass-through path may not contain . or .. segments".into(),
        ));
    }
    let mut url = format!("{base}{path}");
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn keeps_path_encoding_and_query() {
        let u = uri("/proxy/makevid/api/v1/get_runway/a%20b?x=1&y=%2F");
        assert_eq!(provider_name(&u), Some("makevid"));
        assert_eq!(
            upstream_url("http://sim:1", &u, "makevid").unwrap(),
            "http://sim:1/api/v1/get_runway/a%20b?x=1&y=%2F"
        );
    }

    #[test]
    fn refuses_dot_segments() {
        for path in [
            "/proxy/p/../admin",
            "/proxy/p/a/%2E%2e/b",
            "/proxy/p/./x",
            "/proxy/p/.%2e",
        ] {
            assert!(
                matches!(
                    upstream_url("http://sim:1", &uri(path), "p"),
                    Err(ApiError::InvalidRequest(_))
                ),
                "{path}"
            );
        }
        assert!(upstream_url("http://sim:1", &uri("/proxy/p/a..b/.x"), "p").is_ok());
    }

    #[test]
    fn a_provider_name_is_a_whole_segment() {
        assert!(upstream_url("http://s", &uri("/proxy/makevidx/a"), "makevid").is_err());
        assert_eq!(provider_name(&uri("/proxy//a")), None);
    }
}
