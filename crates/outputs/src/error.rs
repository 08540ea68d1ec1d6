//! Storage errors, classed once: worth retrying, or final.
//!
//! `object_store` errors are detailed but may quote request URLs; they are turned into a
//! [`StorageError`] here, with the text passed through [`crate::redact::redact_text`].

use crate::key::KeyError;
use crate::redact::redact_text;

/// What went wrong with storage. [`StorageError::is_retryable`] says whether trying again later
/// may help.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid object key: {0}")]
    InvalidKey(#[from] KeyError),
    #[error("no such object: {key}")]
    NotFound { key: String },
    #[error("range not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("{operation} is not supported by {kind} storage")]
    Unsupported {
        operation: &'static str,
        kind: &'static str,
    },
    #[error("storage settings: {0}")]
    Settings(String),
    /// The service refused the request: credentials, permissions, a precondition.
    #[error("storage refused {operation}: {message}")]
    Refused {
        operation: &'static str,
        message: String,
    },
    /// Network, a 5xx after the client's own retries, a local I/O error.
    #[error("storage failed during {operation}: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
}

impl StorageError {
    /// True for failures that may pass (network, service errors, I/O); false for refusals,
    /// bad keys and missing objects.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Unavailable { .. })
    }

    /// Classes an `object_store` error from `operation` on `key` (already a full key).
    pub(crate) fn from_store(operation: &'static str, key: &str, err: object_store::Error) -> Self {
        use object_store::Error as E;
        let message = redact_text(&err.to_string());
        match err {
            // Reading a missing object; a write or listing that finds nothing means the
            // bucket (or folder) itself is missing, which is storage refusing.
            E::NotFound { .. } if matches!(operation, "head" | "get" | "read" | "delete") => {
                StorageError::NotFound {
                    key: key.to_owned(),
                }
            }
            E::NotFound { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::Precondition { .. }
            | E::AlreadyExists { .. }
            | E::NotModified { .. }
            | E::InvalidPath { .. }
            | E::NotSupported { .. }
            | E::NotImplemented { .. }
            | E::UnknownConfigurationKey { .. } => StorageError::Refused { operation, message },
            _ => StorageError::Unavailable { operation, message },
        }
    }
}

/// Why [`crate::Storage::put_stream`] failed: the body it was reading, or storage. Either way
/// the partial upload has been aborted.
#[derive(Debug, thiserror::Error)]
pub enum PutError<E> {
    #[error(transparent)]
    Body(E),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_are_classed_and_redacted() {
        let refused = object_store::Error::PermissionDenied {
            path: "k".into(),
            source: "PUT https://s3.example/b/k?X-Amz-Signature=SECRET: 403".into(),
        };
        let err = StorageError::from_store("put", "k", refused);
        assert!(!err.is_retryable());
        assert!(!err.to_string().contains("SECRET"), "{err}");

        let flaky = object_store::Error::Generic {
            store: "S3",
            source: "connection reset".into(),
        };
        assert!(StorageError::from_store("put", "k", flaky).is_retryable());

        let missing = object_store::Error::NotFound {
            path: "k".into(),
            source: "gone".into(),
        };
        let err = StorageError::from_store("head", "k", missing);
        assert!(matches!(err, StorageError::NotFound { .. }) && !err.is_retryable());
    }
}
