//! Refusals, and the one place that writes them in each dialect's error shape.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::answer;
use crate::provider::Provider;

const RUNWAY_DOC_URL: &str = "https://docs.dev.runwayml.com/api";

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SimError {
    /// Missing, empty or unknown bearer key.
    Unauthorized,
    /// Bad input; `code` is the CometAPI error code word.
    Invalid { code: &'static str, message: String },
    /// CometAPI: the id exists but is not visible yet.
    NotVisible,
    /// The id is unknown to this provider.
    NotFound,
    /// An injected status fault.
    Injected {
        status: u16,
        retry_after_s: Option<u64>,
        retry_after_ms: Option<u64>,
    },
}

impl SimError {
    pub(crate) fn invalid(message: impl Into<String>) -> SimError {
        SimError::Invalid {
            code: "invalid_request",
            message: message.into(),
        }
    }

    /// The answer in `provider`'s error shape.
    pub(crate) fn response(&self, provider: Provider) -> Response {
        let status = self.status();
        let mut resp = match provider {
            Provider::CometCompat | Provider::CometOfficial => self.comet_body(status),
            Provider::Runway => self.runway_body(status),
            Provider::Makevid => answer::json(
                status,
                &json!({"error": self.message(), "code": status.as_u16()}),
            ),
        };
        if let SimError::Injected {
            retry_after_s,
            retry_after_ms,
            ..
        } = self
        {
            let headers = resp.headers_mut();
            if let Some(s) = retry_after_s {
                headers.insert(
                    HeaderName::from_static("retry-after"),
                    HeaderValue::from(*s),
                );
            }
            if let Some(ms) = retry_after_ms {
                headers.insert(
                    HeaderName::from_static("retry-after-ms"),
                    HeaderValue::from(*ms),
                );
            }
        }
        resp
    }

    fn status(&self) -> StatusCode {
        match self {
            SimError::Unauthorized => StatusCode::UNAUTHORIZED,
            SimError::Invalid { .. } => StatusCode::BAD_REQUEST,
            SimError::NotVisible => StatusCode::BAD_REQUEST,
            SimError::NotFound => StatusCode::NOT_FOUND,
            SimError::Injected { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn message(&self) -> String {
        match self {
            SimError::Unauthorized => "invalid or missing API key".to_owned(),
            SimError::Invalid { message, .. } => message.clone(),
            SimError::NotVisible | SimError::NotFound => "task not found".to_owned(),
            SimError::Injected { status, .. } => match *status {
                429 => "too many requests".to_owned(),
                s if s >= 500 => "upstream service unavailable".to_owned(),
                s => format!("simulated error {s}"),
            },
        }
    }

    /// new-api's task error: `{"code","message","data":null}`; unknown ids are
    /// `task_not_exist` with HTTP 400, like ids not visible yet.
    fn comet_body(&self, status: StatusCode) -> Response {
        let (status, code) = match self {
            SimError::Unauthorized => (status, "unauthorized"),
            SimError::Invalid { code, .. } => (status, *code),
            SimError::NotVisible | SimError::NotFound => {
                let body =
                    json!({"code": "task_not_exist", "message": "task_not_exist", "data": null});
                return answer::json(StatusCode::BAD_REQUEST, &body);
            }
            SimError::Injected { status: s, .. } => match *s {
                429 => (status, "rate_limit_exceeded"),
                s if s >= 500 => (status, "upstream_error"),
                _ => (status, "error"),
            },
        };
        answer::json(
            status,
            &json!({"code": code, "message": self.message(), "data": null}),
        )
    }

    fn runway_body(&self, status: StatusCode) -> Response {
        match self {
            SimError::Invalid { code, message } => answer::json(
                status,
                &json!({
                    "error": message,
                    "issues": [{"code": code, "message": message, "path": []}],
                    "docUrl": RUNWAY_DOC_URL,
                }),
            ),
            SimError::NotVisible | SimError::NotFound => {
                answer::json(StatusCode::NOT_FOUND, &json!({"error": "Task not found"}))
            }
            _ => answer::json(status, &json!({"error": self.message()})),
        }
    }
}
