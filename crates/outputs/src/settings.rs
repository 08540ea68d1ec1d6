//! The settings this crate takes, as plain structs.
//!
//! The YAML (`outputs:` in the config file) is parsed and validated by `taskgate-config`;
//! these types are what it hands over, so they carry no serde and no defaults logic beyond
//! the documented constants. Credentials stay in [`Secret`], whose `Debug` is redacted.

use std::path::PathBuf;
use std::time::Duration;

pub use taskgate_core::Secret;

/// `outputs.url_ttl` when the file does not say: signed and presigned URLs live 24 hours.
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(24 * 3600);
/// `outputs.keep_for` when the file does not say: stored objects are kept 30 days.
pub const DEFAULT_KEEP_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// `outputs.max_bytes` when the file does not say: 2 GiB per output.
pub const DEFAULT_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// `outputs:` as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSettings {
    pub storage: StorageSettings,
    /// Lifetime of a signed (`local`) or presigned (`s3`) URL.
    pub url_ttl: Duration,
    /// Objects older than this are deleted by retention.
    pub keep_for: Duration,
    /// Largest output copied; a larger one is refused and nothing is kept.
    pub max_bytes: u64,
}

impl OutputSettings {
    /// The given storage with the documented defaults for everything else.
    pub fn with_defaults(storage: StorageSettings) -> OutputSettings {
        OutputSettings {
            storage,
            url_ttl: DEFAULT_URL_TTL,
            keep_for: DEFAULT_KEEP_FOR,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// `outputs.storage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    pub kind: StorageKind,
}

/// `outputs.storage.kind` and the keys that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageKind {
    /// A directory on this machine (created when missing). Objects have no key prefix.
    Local { path: PathBuf },
    /// Any S3-compatible service.
    S3(S3Settings),
}

/// `outputs.storage` with `kind: s3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix, `a/b` or `a/b/`; empty for none.
    pub prefix: String,
    pub region: String,
    /// For S3-compatible services other than AWS (`http://127.0.0.1:9000`). With an endpoint
    /// the bucket is addressed path-style (`endpoint/bucket/key`), as such services expect;
    /// without one, virtual-hosted style (`bucket.s3.region.amazonaws.com/key`), as AWS wants.
    pub endpoint: Option<String>,
    /// Both keys, or neither (then the ambient AWS credentials: instance or container role).
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
}

impl S3Settings {
    /// A bucket in a region with no prefix, endpoint or keys; fill in the rest by field.
    pub fn new(bucket: impl Into<String>, region: impl Into<String>) -> S3Settings {
        S3Settings {
            bucket: bucket.into(),
            prefix: String::new(),
            region: region.into(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_s3_keys() {
        let mut s3 = S3Settings::new("bucket", "us-east-1");
        s3.access_key_id = Some(Secret::new("AKIDEXAMPLE"));
        s3.secret_access_key = Some(Secret::new("wJalrXUtnFEMI"));
        let printed = format!(
            "{:?}",
            StorageSettings {
                kind: StorageKind::S3(s3)
            }
        );
        assert!(!printed.contains("AKIDEXAMPLE"), "{printed}");
        assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
        assert!(printed.contains("bucket"), "{printed}");
    }
}
