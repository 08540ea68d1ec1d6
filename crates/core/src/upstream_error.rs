//! How a call to a provider failed, classified so a caller can decide safely what to do next.

use std::time::Duration;

/// The class of an upstream failure. The class, not the message, drives retries and fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// The call certainly had no effect upstream (connection refused, 429, 5xx, 401): for a
    /// create, the task was certainly not created, so another provider may take it.
    NoEffect,
    /// The provider definitely rejected the input (400/422): the same input will fail
    /// elsewhere too, so it goes back to the client and is never retried.
    Rejected,
    /// The request was sent but no usable answer came back (timeout, connection cut):
    /// a create may or may not have happened, so it is never repeated.
    OutcomeUnknown,
    /// The provider does not know the task yet (`task_not_exist`, 404 right after create).
    NotVisibleYet,
    /// The provider answered, but with something we cannot read (bad JSON, no task id).
    BadAnswer,
}

impl FailureClass {
    /// A low-cardinality label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::NoEffect => "no_effect",
            FailureClass::Rejected => "rejected",
            FailureClass::OutcomeUnknown => "outcome_unknown",
            FailureClass::NotVisibleYet => "not_visible_yet",
            FailureClass::BadAnswer => "bad_answer",
        }
    }
}

/// A failed provider call. `message` is for logs; it never holds credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{class:?}: {message}")]
pub struct UpstreamError {
    pub class: FailureClass,
    /// Whether repeating the same call later may succeed (429, 5xx, refused connection).
    pub transient: bool,
    /// Whether no answer came in time (a timeout rather than a cut connection).
    pub timed_out: bool,
    pub http_status: Option<u16>,
    /// How long the provider asked us to wait (`Retry-After`, `retry-after-ms`).
    pub retry_after: Option<Duration>,
    /// The provider's own error code, where it gave one.
    pub provider_code: Option<String>,
    pub message: String,
}

impl UpstreamError {
    pub fn new(class: FailureClass, message: impl Into<String>) -> UpstreamError {
        UpstreamError {
            class,
            transient: false,
            timed_out: false,
            http_status: None,
            retry_after: None,
            provider_code: None,
            message: message.into(),
        }
    }

    pub fn bad_answer(message: impl Into<String>) -> UpstreamError {
        UpstreamError::new(FailureClass::BadAnswer, message)
    }

    pub fn not_visible_yet(message: impl Into<String>) -> UpstreamError {
        UpstreamError::new(FailureClass::NotVisibleYet, message)
    }

    pub fn transient(mut self) -> UpstreamError {
        self.transient = true;
        self
    }

    pub fn with_status(mut self, status: u16) -> UpstreamError {
        self.http_status = Some(status);
        self
    }

    pub fn with_code(mut self, code: Option<String>) -> UpstreamError {
        self.provider_code = code;
        self
    }

    /// True when a create certainly did not create a task: the only case in which the
    /// gateway may try another provider.
    pub fn certainly_not_created(&self) -> bool {
        self.class == FailureClass::NoEffect
    }

    /// True when the same call may be repeated against the same provider: only calls that
    /// certainly had no effect and may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.class == FailureClass::NoEffect && self.transient
    }

    /// Classifies an HTTP error status that carries no dialect-specific meaning.
    pub fn from_status(status: u16, message: impl Into<String>) -> UpstreamError {
        let class = match status {
            400 | 422 => FailureClass::Rejected,
            _ => FailureClass::NoEffect,
        };
        let transient = matches!(status, 408 | 409 | 429) || status >= 500;
        UpstreamError {
            transient,
            ..UpstreamError::new(class, message)
        }
        .with_status(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        let e = UpstreamError::from_status(429, "slow down");
        assert!(e.certainly_not_created() && e.is_retryable());
        let e = UpstreamError::from_status(503, "down");
        assert!(e.certainly_not_created() && e.is_retryable());
        let e = UpstreamError::from_status(400, "bad prompt");
        assert_eq!(e.class, FailureClass::Rejected);
        assert!(!e.certainly_not_created() && !e.is_retryable());
        let e = UpstreamError::from_status(401, "key");
        assert!(e.certainly_not_created() && !e.is_retryable());
    }
}
