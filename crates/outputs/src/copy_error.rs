//! Why a copy failed, and whether trying again later may help.
//!
//! The caller retries a copy like a poll: connection errors, timeouts, 5xx and broken bodies
//! are worth another try; a URL that is gone (404, 410), forbidden (403), too big, or storage
//! refusing the object are final, and the task keeps the provider's URL instead. Every URL in
//! these messages has its query removed: presigned provider URLs carry credentials there.

use std::time::Duration;

use crate::error::StorageError;
use crate::key::KeyError;

/// A failed copy of one output.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the output URL is not an absolute http(s) URL")]
    InvalidUrl,
    #[error("could not fetch {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent nothing for {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("the body from {url} broke off: {message}")]
    Body { url: String, message: String },
    #[error(
        "the output at {url} is larger than max_bytes ({max_bytes} bytes); nothing was stored"
    )]
    TooBig { url: String, max_bytes: u64 },
    #[error("invalid output key: {0}")]
    Key(#[from] KeyError),
    #[error("storing the output failed: {0}")]
    Storage(#[from] StorageError),
}

impl CopyError {
    /// True when the same copy may succeed later (network, timeouts, 5xx, 408, 429, storage
    /// unavailable); false when it never will (gone, forbidden, too big, storage refusing).
    pub fn is_retryable(&self) -> bool {
        match self {
            CopyError::Connect { .. } | CopyError::Timeout { .. } | CopyError::Body { .. } => true,
            CopyError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            CopyError::Storage(err) => err.is_retryable(),
            CopyError::InvalidUrl | CopyError::TooBig { .. } | CopyError::Key(_) => false,
        }
    }

    /// A short word for the failure, for metric labels and the task's `copy_error`.
    pub fn class(&self) -> &'static str {
        match self {
            CopyError::InvalidUrl => "invalid_url",
            CopyError::Connect { .. } => "connect",
            CopyError::Status { .. } => "status",
            CopyError::Timeout { .. } => "timeout",
            CopyError::Body { .. } => "body",
            CopyError::TooBig { .. } => "too_big",
            CopyError::Key(_) => "invalid_key",
            CopyError::Storage(_) => "storage",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> CopyError {
        CopyError::Status {
            url: "https://cdn.example/x.mp4".into(),
            status,
        }
    }

    #[test]
    fn server_trouble_is_retried_and_gone_is_final() {
        for retry in [500, 502, 503, 504, 408, 429] {
            assert!(status(retry).is_retryable(), "{retry}");
        }
        for fin in [400, 401, 403, 404, 410] {
            assert!(!status(fin).is_retryable(), "{fin}");
        }
        let too_big = CopyError::TooBig {
            url: "u".into(),
            max_bytes: 1,
        };
        assert!(!too_big.is_retryable());
        assert!(too_big.to_string().contains("max_bytes"));
    }
}
