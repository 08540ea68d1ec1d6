//! Where a pass-through goes: the provider's base URL, then the client's path after
//! `/proxy/{provider}` exactly as it was sent (still percent-encoded), then its query. The
//! path must stay under the base URL's path whatever the spelling, so dot segments are
//! refused before anything is sent, and the URL the HTTP client will request is checked
//! once more after it is parsed the way the client parses it.

use axum::http::Uri;
use url::Url;

use crate::error::ApiError;

/// Percent-decoding rounds tried: an upstream (or a proxy before it) may decode more than
/// once, so `%252e` must count as a dot too.
const DECODE_ROUNDS: usize = 3;

/// The provider named in `/proxy/{provider}/...`.
pub fn provider_name(uri: &Uri) -> Option<&str> {
    let rest = uri.path().strip_prefix("/proxy/")?;
    rest.split('/').next().filter(|name| !name.is_empty())
}

/// The path after `/proxy/{provider}`, starting with `/`.
pub fn provider_path<'a>(uri: &'a Uri, provider: &str) -> Option<&'a str> {
    uri.path()
        .strip_prefix("/proxy/")
        .and_then(|p| p.strip_prefix(provider))
        .filter(|p| p.starts_with('/'))
}

/// Whether `path` holds a `.` or `..` segment in any spelling: percent-encoded (also
/// twice), separated by `\` (URL parsers and some servers take it for `/`), with a
/// `;parameter` after it, or with full-width dots.
fn has_dot_segment(path: &str) -> bool {
    let mut text = path.to_string();
    for _ in 0..DECODE_ROUNDS {
        if text.split(['/', '\\']).any(is_dot_segment) {
            return true;
        }
        let decoded = percent_encoding::percent_decode_str(&text)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == text {
            return false;
        }
        text = decoded;
    }
    text.split(['/', '\\']).any(is_dot_segment)
}

fn is_dot_segment(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or_default().trim();
    !name.is_empty()
        && name.chars().all(|c| c == '.' || c == '\u{FF0E}')
        && name.chars().count() <= 2
}

/// `base` + the path after `/proxy/{provider}` + `?query`, refused (400) when the path
/// could leave the base URL's path.
pub fn upstream_url(base: &str, uri: &Uri, provider: &str) -> Result<String, ApiError> {
    let path = provider_path(uri, provider).ok_or(ApiError::NotFound("no such route"))?;
    let query = uri.query();
    if has_dot_segment(path) {
        return Err(outside_base());
    }
    let mut url = format!("{base}{path}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    if !stays_under(base, &url) {
        return Err(outside_base());
    }
    Ok(url)
}

fn outside_base() -> ApiError {
    ApiError::InvalidRequest(
        "the pass-through path may not contain . or .. segments in any spelling".into(),
    )
}

/// Whether `url`, parsed as the HTTP client will parse it, is on `base`'s origin and under
/// its path.
fn stays_under(base: &str, url: &str) -> bool {
    let (Ok(base), Ok(url)) = (Url::parse(base), Url::parse(url)) else {
        return false;
    };
    let prefix = base.path().trim_end_matches('/');
    url.origin() == base.origin()
        && url
            .path()
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
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
        assert_eq!(
            upstream_url("http://sim:1/base", &uri("/proxy/p/v1/tasks/x"), "p").unwrap(),
            "http://sim:1/base/v1/tasks/x"
        );
    }

    #[test]
    fn refuses_dot_segments_in_every_spelling() {
        for path in [
            "/proxy/p/../admin",
            "/proxy/p/a/%2E%2e/b",
            "/proxy/p/./x",
            "/proxy/p/.%2e",
            "/proxy/p/..\\..\\admin",
            "/proxy/p/v1\\..\\..\\admin",
            "/proxy/p/..\\admin",
            "/proxy/p/%2e%2e\\admin",
            "/proxy/p/..%5c..%5cadmin",
            "/proxy/p/..%5C..%5Cadmin",
            "/proxy/p/..%2f..%2fadmin",
            "/proxy/p/%252e%252e/admin",
            "/proxy/p/%25252e%25252e/admin",
            "/proxy/p/..;/admin",
            "/proxy/p/v1/..",
            "/proxy/p/v1/%2e",
            "/proxy/p/%ef%bc%8e%ef%bc%8e/admin",
        ] {
            // The `http` crate refuses a raw backslash in a URI; hyper hands it over
            // percent-encoded or as sent depending on the client, so test both.
            let forms = [path.to_string(), path.replace('\\', "%5C")];
            for form in forms {
                let Ok(u) = form.parse::<Uri>() else { continue };
                assert!(
                    matches!(
                        upstream_url("http://sim:1/base", &u, "p"),
                        Err(ApiError::InvalidRequest(_))
                    ),
                    "{form}"
                );
            }
        }
        for ok in [
            "/proxy/p/a..b/.x",
            "/proxy/p/v1/tasks/a.b",
            "/proxy/p/...",
            "/proxy/p/a%2fb",
        ] {
            assert!(upstream_url("http://sim:1", &uri(ok), "p").is_ok(), "{ok}");
        }
    }

    #[test]
    fn the_parsed_url_must_stay_under_the_base_path() {
        assert!(stays_under("http://h/base", "http://h/base/x"));
        assert!(!stays_under("http://h/base", "http://h/basement/x"));
        assert!(!stays_under("http://h/base", "http://h/base/../admin"));
        assert!(!stays_under("http://h/base", "http://h/base/..\\admin"));
        assert!(!stays_under("http://h:1/", "http://h:2/x"));
        assert!(stays_under("http://h:1", "http://h:1/x"));
    }

    #[test]
    fn a_provider_name_is_a_whole_segment() {
        assert!(upstream_url("http://s", &uri("/proxy/makevidx/a"), "makevid").is_err());
        assert_eq!(provider_name(&uri("/proxy//a")), None);
    }
}
