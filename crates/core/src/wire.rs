//! Defensive readers for provider JSON: every field may be missing, null, or of another type.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// A string field; numbers are rendered as text (ids and codes arrive both ways).
pub fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Follows a path of object keys.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// A non-negative integer from a number or a numeric string.
pub fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A finite positive number from a number or a numeric string.
pub fn positive(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (n.is_finite() && n > 0.0).then_some(n)
}

/// A time from Unix seconds (0 meaning "not yet"), Unix milliseconds, or RFC 3339 text.
pub fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::Number(n) => unix(n.as_i64()?),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(secs) = s.parse::<i64>() {
                return unix(secs);
            }
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }
        _ => None,
    }
}

fn unix(n: i64) -> Option<DateTime<Utc>> {
    // Anything past year 5138 in seconds is a millisecond stamp.
    const MAX_SECONDS: i64 = 100_000_000_000;
    match n {
        n if n <= 0 => None,
        n if n < MAX_SECONDS => Utc.timestamp_opt(n, 0).single(),
        n => Utc.timestamp_millis_opt(n).single(),
    }
}

/// Every string found in a value that is a string or a list of strings.
pub fn urls(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
                Value::Object(_) => text(i.get("url")).or_else(|| text(i.get("uri"))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Parses a JSON body, describing the failure briefly (no body echo: it may be huge).
pub fn json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON from provider: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_in_every_form() {
        assert_eq!(time(Some(&json!(0))), None);
        assert_eq!(
            time(Some(&json!(1773366766))).map(|t| t.to_rfc3339()),
            Some("2026-03-13T01:52:46+00:00".to_string())
        );
        assert_eq!(
            time(Some(&json!("2026-03-13T09:52:46+08:00"))),
            time(Some(&json!(1773366766)))
        );
        assert_eq!(
            time(Some(&json!(1773366766000_i64))),
            time(Some(&json!(1773366766)))
        );
        assert_eq!(time(Some(&json!("yesterday"))), None);
        assert_eq!(time(Some(&json!(i64::MAX))), None);
    }

    #[test]
    fn text_and_counts_accept_both_types() {
        assert_eq!(text(Some(&json!(200))), Some("200".to_string()));
        assert_eq!(text(Some(&json!(""))), None);
        assert_eq!(count(Some(&json!("7655707"))), Some(7655707));
        assert_eq!(count(Some(&json!(-3))), None);
        assert_eq!(urls(Some(&json!(["a", 1, {"url": "b"}]))), vec!["a", "b"]);
    }
}
