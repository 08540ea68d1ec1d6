//! Writing progress in a dialect's documented form, or in a script's deliberately odd one.

use serde_json::Value;

use crate::lifecycle::Phase;
use crate::script::ProgressForm;

/// A dialect's documented way of writing progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Native {
    /// CometAPI: `"45%"`.
    Percent,
    /// Runway: `0.45`.
    Float,
    /// makevid: `"0.45"`.
    RatioString,
}

/// Progress at `phase`, in the `native` form unless `form` overrides it.
pub(crate) fn progress(native: Native, form: Option<ProgressForm>, phase: Phase) -> Value {
    let fraction = phase.fraction();
    let running = matches!(phase, Phase::Running(_));
    match form {
        None => write(native, fraction),
        Some(ProgressForm::Percent) => write(Native::Percent, fraction),
        Some(ProgressForm::Float) => write(Native::Float, fraction),
        Some(ProgressForm::RatioString) => write(Native::RatioString, fraction),
        Some(ProgressForm::Null) => Value::Null,
        Some(ProgressForm::Over) if running => write(native, 1.5),
        Some(ProgressForm::Negative) if running => write(native, -0.5),
        Some(ProgressForm::Over | ProgressForm::Negative) => write(native, fraction),
    }
}

fn write(form: Native, fraction: f64) -> Value {
    // Floor to whole percent so progress never reads ahead of the clock.
    let percent = (fraction * 100.0).floor();
    match form {
        Native::Percent => Value::String(format!("{percent}%")),
        Native::Float => {
            serde_json::Number::from_f64(percent / 100.0).map_or(Value::Null, Value::Number)
        }
        Native::RatioString => Value::String(format!("{}", percent / 100.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn native_forms() {
        let p = Phase::Running(0.456);
        assert_eq!(progress(Native::Percent, None, p), json!("45%"));
        assert_eq!(progress(Native::Float, None, p), json!(0.45));
        assert_eq!(progress(Native::RatioString, None, p), json!("0.45"));
        assert_eq!(
            progress(Native::RatioString, None, Phase::Succeeded),
            json!("1")
        );
        assert_eq!(progress(Native::Percent, None, Phase::Queued), json!("0%"));
    }

    #[test]
    fn overrides() {
        let p = Phase::Running(0.5);
        let f = |form| progress(Native::Percent, Some(form), p);
        assert_eq!(f(ProgressForm::Float), json!(0.5));
        assert_eq!(f(ProgressForm::RatioString), json!("0.5"));
        assert_eq!(f(ProgressForm::Null), Value::Null);
        assert_eq!(f(ProgressForm::Over), json!("150%"));
        assert_eq!(f(ProgressForm::Negative), json!("-50%"));
        assert_eq!(
            progress(Native::Float, Some(ProgressForm::Over), p),
            json!(1.5)
        );
        let done = progress(Native::Percent, Some(ProgressForm::Over), Phase::Succeeded);
        assert_eq!(done, json!("100%"));
    }
}
