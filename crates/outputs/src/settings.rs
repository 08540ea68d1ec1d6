//! The settings this crate takes, as plain structs.
//!
//! The YAML (`outputs:` in the config file) is parsed and validated by `taskgate-config`;
//! these types are what it hands over, so they carry no serde and no defaults logic beyond
//! the documented constants. Credentials stay in [`Secret`], whose `Debug` is redacted.

use std::path::PathBuf;
use std::time::Duration;

pub use taskgate_core::Secret;

use crate::key::{KeyError, KeyPrefix};

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
    /// The HMAC key of signed `/v1/files` URLs (`local` storage only; see
    /// [`crate::FileUrlSigner`]), at least [`OutputSettings::MIN_SIGNING_KEY_BYTES`] bytes.
    /// `None`: the gateway generates one and keeps it in its store, so every replica
    /// shares it.
    pub signing_key: Option<Secret>,
}

impl OutputSettings {
    /// The shortest `signing_key` accepted, in bytes.
    pub const MIN_SIGNING_KEY_BYTES: usize = 32;

    /// The given storage with the documented defaults for everything else.
    pub fn with_defaults(storage: StorageSettings) -> OutputSettings {
        OutputSettings {
            storage,
            url_ttl: DEFAULT_URL_TTL,
            keep_for: DEFAULT_KEEP_FOR,
            max_bytes: DEFAULT_MAX_BYTES,
            signing_key: None,
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
    /// The longest `url_ttl` with `s3` storage: S3 presigned URLs last at most 7 days.
    pub const MAX_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

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

    /// Whether [`Storage::s3`](crate::Storage::s3) accepts `prefix`: `a/b`, `/a/b/` or empty;
    /// each segment 1 to 128 letters, digits, `_`, `-` or `.`, starting with a letter or
    /// digit, without `..`. The error names the rule, never the value.
    pub fn check_prefix(prefix: &str) -> Result<(), KeyError> {
        KeyPrefix::parse(prefix).map(|_| ())
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

    #[test]
    fn debug_never_prints_the_signing_key() {
        let mut settings = OutputSettings::with_defaults(StorageSettings {
            kind: StorageKind::Local {
                path: PathBuf::from("data/outputs"),
            },
        });
        settings.signing_key = Some(Secret::new(
            "k".repeat(OutputSettings::MIN_SIGNING_KEY_BYTES),
        ));
        let printed = format!("{settings:?}");
        assert!(!printed.contains("kkkk"), "{printed}");
    }

    #[test]
    fn check_prefix_is_the_rule_storage_applies() {
        for ok in ["", "/", "prod", "prod/outputs/", "/a.b/c_d-1"] {
            assert_eq!(S3Settings::check_prefix(ok), Ok(()), "{ok:?}");
        }
        for bad in ["a//b", "a/../b", "./a", "a b", ".hidden", "é"] {
            assert!(S3Settings::check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
