//! Reading providers' error answers: every dialect's shape, one classification.

use serde_json::Value;

use super::WireAnswer;
use crate::upstream_error::{FailureClass, UpstreamError};
use crate::wire;

/// The code CometAPI (new-api) answers for a task id it does not know yet.
pub(crate) const TASK_NOT_EXIST: &str = "task_not_exist";

/// Longest provider message we keep; answers can be arbitrarily large.
const MAX_MESSAGE_CHARS: usize = 300;

/// The provider's `(code, message)` from any error shape we know:
/// `{"error":"..."}`, `{"error":{"message","code"|"type"}}`, `{"code":..,"message"|"msg":..}`.
pub(crate) fn code_and_message(body: &Value) -> (Option<String>, Option<String>) {
    match body.get("error") {
        // A blank text says nothing: the caller falls back to the HTTP status.
        Some(text @ Value::String(_)) => (wire::text(body.get("code")), wire::text(Some(text))),
        Some(err @ Value::Object(_)) => (
            wire::text(err.get("code")).or_else(|| wire::text(err.get("type"))),
            wire::text(err.get("message")),
        ),
        _ => (
            wire::text(body.get("code")),
            wire::text(body.get("message")).or_else(|| wire::text(body.get("msg"))),
        ),
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    short.push('…');
    short
}

/// True when a body says the task does not exist (yet).
pub(crate) fn says_task_not_exist(body: &Value) -> bool {
    let (code, message) = code_and_message(body);
    code.as_deref() == Some(TASK_NOT_EXIST) || message.as_deref() == Some(TASK_NOT_EXIST)
}

/// Classifies a non-2xx answer. `not_found_means_not_visible` is set for polls, where a
/// 404 right after create means "not visible yet" rather than a broken route.
pub(crate) fn error_answer(
    answer: &WireAnswer,
    not_found_means_not_visible: bool,
) -> UpstreamError {
    let body = serde_json::from_slice::<Value>(&answer.body).unwrap_or(Value::Null);
    let (code, message) = code_and_message(&body);
    let message = shorten(&message.unwrap_or_else(|| format!("HTTP {}", answer.status)));
    let mut error =
        if says_task_not_exist(&body) || (not_found_means_not_visible && answer.status == 404) {
            UpstreamError::not_visible_yet(message).with_status(answer.status)
        } else {
            UpstreamError::from_status(answer.status, message)
        };
    error.retry_after = answer.retry_after;
    // A numeric code only repeats the status; a word is the provider's own code.
    error.with_code(code.filter(|c| c.parse::<u32>().is_err()))
}

/// Parses a 2xx body, classifying unreadable JSON.
pub(crate) fn json_body(answer: &WireAnswer) -> Result<Value, UpstreamError> {
    wire::json(&answer.body).map_err(UpstreamError::bad_answer)
}

/// A 2xx body whose wrapper says it failed (`{"code": 400, ...}` or a non-success word).
pub(crate) fn wrapper_failure(body: &Value) -> Option<UpstreamError> {
    if says_task_not_exist(body) {
        return Some(UpstreamError::not_visible_yet(TASK_NOT_EXIST));
    }
    let (code, message) = code_and_message(body);
    let code = code?;
    let message = shorten(&message.unwrap_or_else(|| format!("provider code {code}")));
    match code.parse::<u16>() {
        Ok(n) if n < 400 => None,
        Ok(n) => Some(UpstreamError::from_status(n, message)),
        Err(_) => {
            let ok = ["success", "ok"].contains(&code.to_ascii_lowercase().as_str());
            (!ok && body.get("error").is_some())
                .then(|| UpstreamError::new(FailureClass::Rejected, message).with_code(Some(code)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, body: Value) -> WireAnswer {
        WireAnswer::new(status, body.to_string())
    }

    #[test]
    fn task_not_exist_is_not_visible_yet() {
        let a = answer(
            400,
            json!({"code":"task_not_exist","message":"task_not_exist","data":null}),
        );
        assert_eq!(error_answer(&a, false).class, FailureClass::NotVisibleYet);
    }

    #[test]
    fn reads_each_error_shape() {
        let runway = answer(
            400,
            json!({"error":"promptText too long","issues":[],"docUrl":"x"}),
        );
        let e = error_answer(&runway, false);
        assert_eq!(
            (e.class, e.message.as_str()),
            (FailureClass::Rejected, "promptText too long")
        );
        let makevid = answer(400, json!({"error":"bad seconds","code":400}));
        assert_eq!(error_answer(&makevid, false).provider_code, None);
        let newapi = answer(
            401,
            json!({"error":{"message":"invalid token","type":"new_api_error"}}),
        );
        let e = error_answer(&newapi, false);
        assert_eq!(e.class, FailureClass::NoEffect);
        assert_eq!(e.provider_code.as_deref(), Some("new_api_error"));
        let garbage = WireAnswer::new(503, "<html>");
        let e = error_answer(&garbage, false);
        assert!(e.is_retryable());
        assert_eq!(e.message, "HTTP 503");
        let blank = error_answer(&answer(400, json!({"error":" "})), false);
        assert_eq!(blank.message, "HTTP 400");
        let e = error_answer(&answer(404, json!({"error":"Task not found"})), true);
        assert_eq!(e.class, FailureClass::NotVisibleYet);
    }

    #[test]
    fn wrapper_codes() {
        assert!(wrapper_failure(&json!({"code":200,"data":{}})).is_none());
        assert!(wrapper_failure(&json!({"code":"success","data":{}})).is_none());
        let e = wrapper_failure(&json!({"code":500,"message":"busy"}));
        assert_eq!(e.map(|e| e.class), Some(FailureClass::NoEffect));
        let e = wrapper_failure(&json!({"code":"task_not_exist"}));
        assert_eq!(e.map(|e| e.class), Some(FailureClass::NotVisibleYet));
    }
}
