//! The `Prefer` request header (RFC 7240), for `wait=N` on creates. Preferences are hints:
//! one the gateway does not understand, or cannot read, is ignored, never an error.

use std::time::Duration;

use axum::http::HeaderMap;

/// The longest `wait` honoured; a larger one is applied as this.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The first `wait=N` (N whole seconds, bare or quoted) among the request's `Prefer`
/// headers, capped at [`MAX_WAIT`].
pub fn wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|preference| {
            // Parameters after `;` belong to the preference and say nothing about its value.
            let head = preference.split(';').next()?.trim();
            let (name, value) = head.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("wait") {
                return None;
            }
            let value = value.trim().trim_matches('"');
            let seconds: u64 = value.parse().ok()?;
            Some(Duration::from_secs(seconds).min(MAX_WAIT))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("prefer", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn reads_wait_among_other_preferences_and_headers() {
        let secs = |values: &[&str]| wait(&headers(values)).map(|d| d.as_secs());
        assert_eq!(secs(&["wait=10"]), Some(10));
        assert_eq!(secs(&["respond-async, Wait=5"]), Some(5));
        assert_eq!(secs(&["return=minimal", "wait=\"7\"; foo=bar"]), Some(7));
        assert_eq!(secs(&["wait=3600"]), Some(60));
        assert_eq!(secs(&["wait=0"]), Some(0));
        assert_eq!(secs(&["wait=-1"]), None);
        assert_eq!(secs(&["wait=soon"]), None);
        assert_eq!(secs(&["waiting=5"]), None);
        assert_eq!(secs(&[]), None);
    }
}
