//! Progress as a checked number in `[0, 1]`, and the parser for every form providers send.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A fraction of work done, always finite and within `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Progress(f64);

impl Progress {
    pub const ZERO: Progress = Progress(0.0);
    pub const DONE: Progress = Progress(1.0);

    /// `None` for NaN or a value outside `[0, 1]`.
    pub fn new(value: f64) -> Option<Progress> {
        (value.is_finite() && (0.0..=1.0).contains(&value)).then_some(Progress(value))
    }

    /// Clamps into `[0, 1]`; NaN gives `None`.
    pub fn clamped(value: f64) -> Option<Progress> {
        if value.is_nan() {
            return None;
        }
        Some(Progress(value.clamp(0.0, 1.0)))
    }

    pub fn value(self) -> f64 {
        self.0
    }

    /// Reads any progress form a provider sends: `"45%"`, `"0.45"`, `0.45`, `45` (a number
    /// above 1 is read as a percentage). Out-of-range values are clamped; anything else
    /// (null, words, objects) is `None`, meaning "unknown".
    pub fn from_wire(value: &Value) -> Option<Progress> {
        match value {
            Value::Number(n) => n.as_f64().and_then(Self::from_number),
            Value::String(s) => Self::from_text(s),
            _ => None,
        }
    }

    fn from_text(text: &str) -> Option<Progress> {
        let text = text.trim();
        if let Some(percent) = text.strip_suffix('%') {
            let n: f64 = percent.trim().parse().ok()?;
            return Self::clamped(n / 100.0);
        }
        let n: f64 = text.parse().ok()?;
        Self::from_number(n)
    }

    fn from_number(n: f64) -> Option<Progress> {
        if !n.is_finite() {
            return None;
        }
        // Fractions are documented; a bare number above 1 can only be a percentage.
        if n > 1.0 {
            Self::clamped(n / 100.0)
        } else {
            Self::clamped(n)
        }
    }
}

impl<'de> Deserialize<'de> for Progress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Progress, D::Error> {
        let n = f64::deserialize(d)?;
        Progress::new(n).ok_or_else(|| serde::de::Error::custom("progress must be within [0, 1]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Option<f64> {
        Progress::from_wire(&v).map(Progress::value)
    }

    #[test]
    fn reads_every_documented_form() {
        assert_eq!(read(json!("45%")), Some(0.45));
        assert_eq!(read(json!("0.45")), Some(0.45));
        assert_eq!(read(json!(0.45)), Some(0.45));
        assert_eq!(read(json!("0%")), Some(0.0));
        assert_eq!(read(json!("1")), Some(1.0));
        assert_eq!(read(json!(1)), Some(1.0));
    }

    #[test]
    fn clamps_out_of_range_and_ignores_garbage() {
        assert_eq!(read(json!("150%")), Some(1.0));
        assert_eq!(read(json!(-0.2)), Some(0.0));
        assert_eq!(read(json!("-5%")), Some(0.0));
        assert_eq!(read(json!(1e308)), Some(1.0));
        assert_eq!(read(json!(45)), Some(0.45));
        assert_eq!(read(json!(null)), None);
        assert_eq!(read(json!("soon")), None);
        assert_eq!(read(json!("NaN")), None);
        assert_eq!(read(json!({"p": 1})), None);
    }

    #[test]
    fn deserialize_rejects_out_of_range() {
        assert!(serde_json::from_str::<Progress>("1.5").is_err());
        assert!(serde_json::from_str::<Progress>("0.5").is_ok());
    }
}
