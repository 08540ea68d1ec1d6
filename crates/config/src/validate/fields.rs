//! Checks shared by several sections: durations, addresses, URLs, names, secrets, limits.
//! Each records its problem at `path` and returns `None` when the value is unusable.

use std::net::SocketAddr;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::problems::{self, Problems};
use crate::raw::RawRateLimit;
use crate::ready::RateLimit;

/// A duration, or `default` when absent. `positive`: zero is refused.
pub(crate) fn duration(
    raw: Option<&str>,
    default: Duration,
    positive: bool,
    path: &str,
    problems: &mut Problems,
) -> Option<Duration> {
    let Some(text) = raw else {
        return Some(default);
    };
    match parse_duration(text) {
        Ok(d) if positive && d.is_zero() => {
            problems.add(path, "must be longer than 0");
            None
        }
        Ok(d) => Some(d),
        Err(message) => {
            problems.add(path, message);
            None
        }
    }
}

/// A count or size within `min..=max`, or `default` when absent.
pub(crate) fn bounded<T>(
    raw: Option<u64>,
    default: T,
    (min, max): (T, T),
    path: &str,
    problems: &mut Problems,
) -> Option<T>
where
    T: TryFrom<u64> + PartialOrd + std::fmt::Display + Copy,
{
    let Some(n) = raw else {
        return Some(default);
    };
    match T::try_from(n) {
        Ok(n) if min <= n && n <= max => Some(n),
        _ => {
            problems.add(path, format!("must be from {min} to {max}"));
            None
        }
    }
}

pub(crate) fn socket_addr(
    raw: Option<&str>,
    default: SocketAddr,
    path: &str,
    problems: &mut Problems,
) -> Option<SocketAddr> {
    let Some(text) = raw else {
        return Some(default);
    };
    text.parse()
        .map_err(|_| {
            problems.add(
                path,
                format!("'{text}' is not an IP address and port, e.g. 127.0.0.1:8080"),
            );
        })
        .ok()
}

/// An absolute `http`/`https` URL with a host, without credentials, query or fragment (it is
/// logged and printed, and paths are appended to it).
pub(crate) fn http_url(text: &str, path: &str, problems: &mut Problems) -> Option<url::Url> {
    let url = match url::Url::parse(text) {
        Ok(url) => url,
        Err(e) => {
            problems.add(path, format!("'{text}' is not an absolute URL: {e}"));
            return None;
        }
    };
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some("must be an http or https URL")
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("must name a host")
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("must not hold credentials (put keys in api_key)")
    } else if url.query().is_some() || url.fragment().is_some() {
        Some("must not have a query or fragment")
    } else {
        None
    };
    match problem {
        Some(message) => {
            problems.add(path, message);
            None
        }
        None => Some(url),
    }
}

/// A credential: required, non-empty, and sendable as a header value as is.
pub(crate) fn secret(raw: Option<&str>, path: &str, problems: &mut Problems) -> Option<String> {
    let Some(text) = raw else {
        problems.add(path, "missing required field");
        return None;
    };
    let problem = if text.is_empty() {
        Some("must not be empty")
    } else if text.trim() != text {
        Some("has leading or trailing whitespace")
    } else if text.chars().any(char::is_control) {
        Some("contains control characters")
    } else {
        None
    };
    match problem {
        Some(message) => {
            problems.add(path, message);
            None
        }
        None => Some(text.to_string()),
    }
}

/// Which characters a name may use.
#[derive(Clone, Copy)]
pub(crate) enum NameRule {
    /// `[a-z0-9][a-z0-9_-]*`
    Provider,
    /// `[A-Za-z0-9][A-Za-z0-9_-]*`
    Tenant,
}

pub(crate) const MAX_NAME_LEN: usize = 64;

impl NameRule {
    fn allows(self, c: char, first: bool) -> bool {
        let letter = match self {
            NameRule::Provider => c.is_ascii_lowercase(),
            NameRule::Tenant => c.is_ascii_alphabetic(),
        };
        letter || c.is_ascii_digit() || (!first && (c == '_' || c == '-'))
    }

    fn pattern(self) -> &'static str {
        match self {
            NameRule::Provider => "[a-z0-9][a-z0-9_-]*",
            NameRule::Tenant => "[A-Za-z0-9][A-Za-z0-9_-]*",
        }
    }
}

/// Checks a provider or tenant name (a map key: its path is the entry's own path).
pub(crate) fn name(name: &str, rule: NameRule, path: &str, problems: &mut Problems) -> bool {
    let mut chars = name.chars();
    let pattern_ok =
        chars.next().is_some_and(|c| rule.allows(c, true)) && chars.all(|c| rule.allows(c, false));
    if !pattern_ok {
        problems.add(path, format!("name '{name}' must match {}", rule.pattern()));
        return false;
    }
    if name.len() > MAX_NAME_LEN {
        problems.add(
            path,
            format!("name is longer than {MAX_NAME_LEN} characters"),
        );
        return false;
    }
    true
}

/// Exactly one of `per_second`, `per_minute`, `per_hour`; `burst` defaults to the count.
pub(crate) fn rate_limit(
    raw: &RawRateLimit,
    path: &str,
    problems: &mut Problems,
) -> Option<RateLimit> {
    let periods = [
        ("per_second", raw.per_second, Duration::from_secs(1)),
        ("per_minute", raw.per_minute, Duration::from_secs(60)),
        ("per_hour", raw.per_hour, Duration::from_secs(3600)),
    ];
    let given: Vec<_> = periods
        .iter()
        .filter_map(|(field, count, period)| count.map(|c| (*field, c, *period)))
        .collect();
    let before = problems.len();
    let mut limit = None;
    match given.as_slice() {
        [] => problems.add(path, "needs one of per_second, per_minute, per_hour"),
        [(field, count, period)] => {
            if *count == 0 {
                problems.add(&problems::key(path, field), "must be a positive integer");
            }
            limit = Some(RateLimit {
                count: *count,
                period: *period,
                burst: raw.burst.unwrap_or(*count),
            });
        }
        several => {
            let fields: Vec<&str> = several.iter().map(|(f, _, _)| *f).collect();
            problems.add(
                path,
                format!(
                    "give only one of per_second, per_minute, per_hour (found {})",
                    fields.join(", ")
                ),
            );
        }
    }
    if raw.burst == Some(0) {
        problems.add(&problems::key(path, "burst"), "must be a positive integer");
    }
    limit.filter(|_| problems.len() == before)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(
        s: Option<u32>,
        m: Option<u32>,
        h: Option<u32>,
        b: Option<u32>,
    ) -> (Option<RateLimit>, Vec<String>) {
        let raw = RawRateLimit {
            per_second: s,
            per_minute: m,
            per_hour: h,
            burst: b,
        };
        let mut p = Problems::default();
        let out = rate_limit(&raw, "x.rate_limit", &mut p);
        (
            out,
            p.into_errors().0.iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn burst_defaults_to_one_period() {
        let (l, _) = limit(None, Some(600), None, None);
        assert_eq!(
            l,
            Some(RateLimit {
                count: 600,
                period: Duration::from_secs(60),
                burst: 600
            })
        );
        assert_eq!(limit(Some(5), None, None, Some(10)).0.unwrap().burst, 10);
    }

    #[test]
    fn zero_or_two_periods_or_zero_counts_are_refused() {
        assert_eq!(
            limit(None, None, None, Some(3)).1,
            vec!["x.rate_limit: needs one of per_second, per_minute, per_hour"]
        );
        assert_eq!(
            limit(Some(1), None, Some(1), None).1,
            vec!["x.rate_limit: give only one of per_second, per_minute, per_hour (found per_second, per_hour)"]
        );
        assert_eq!(
            limit(Some(0), None, None, Some(0)).1,
            vec![
                "x.rate_limit.burst: must be a positive integer",
                "x.rate_limit.per_second: must be a positive integer"
            ]
        );
    }

    #[test]
    fn urls_must_be_plain_http() {
        let mut p = Problems::default();
        assert!(http_url("https://api.cometapi.com", "u", &mut p).is_some());
        assert!(http_url("http://127.0.0.1:9000/base", "u", &mut p).is_some());
        assert!(p.is_empty());
        for bad in [
            "api.cometapi.com",
            "ftp://x",
            "https://u:pw@x",
            "https://x/?a=1",
            "file:///x",
        ] {
            assert!(http_url(bad, "u", &mut p).is_none(), "{bad}");
        }
        assert!(!p.into_errors().to_string().contains("pw"));
    }

    #[test]
    fn names_follow_their_rule() {
        let mut p = Problems::default();
        assert!(name("comet-official", NameRule::Provider, "n", &mut p));
        assert!(!name("Comet", NameRule::Provider, "n", &mut p));
        assert!(name("Acme_2", NameRule::Tenant, "n", &mut p));
        assert!(!name("-acme", NameRule::Tenant, "n", &mut p));
        assert!(!name("a.b", NameRule::Tenant, "n", &mut p));
        assert!(!name(&"a".repeat(65), NameRule::Provider, "n", &mut p));
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn secrets_are_never_echoed() {
        let mut p = Problems::default();
        assert!(secret(Some(" sk-live-123\n"), "k", &mut p).is_none());
        assert!(!p.into_errors().to_string().contains("sk-live"));
    }
}
