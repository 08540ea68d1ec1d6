//! The `outputs` section: where succeeded tasks' outputs are copied, and for how long.

use std::path::PathBuf;

use taskgate_core::Secret;
use taskgate_outputs::{
    OutputSettings, S3Settings, StorageKind, StorageSettings, DEFAULT_KEEP_FOR, DEFAULT_MAX_BYTES,
    DEFAULT_URL_TTL,
};

use super::fields::{duration, http_url, secret};
use crate::problems::Problems;
use crate::raw::{RawOutputs, RawStorage};

const DEFAULT_REGION: &str = "us-east-1";
const KINDS: &str = "local, s3";

pub(crate) fn outputs(raw: &RawOutputs, problems: &mut Problems) -> Option<OutputSettings> {
    let storage = match &raw.storage {
        Some(s) => storage(s, problems),
        None => {
            problems.add("outputs.storage", "missing required field");
            None
        }
    };
    // The word as written, so the kind's other rules apply even when its keys are wrong.
    let kind = raw.storage.as_ref().and_then(|s| s.kind.as_deref());
    let url_ttl = duration(
        raw.url_ttl.as_deref(),
        DEFAULT_URL_TTL,
        true,
        "outputs.url_ttl",
        problems,
    );
    let url_ttl = match url_ttl {
        Some(ttl) if kind == Some("s3") && ttl > S3Settings::MAX_URL_TTL => {
            problems.add(
                "outputs.url_ttl",
                "must be at most 7d with storage kind s3 (S3 presigned URLs last at most 7 days)",
            );
            None
        }
        ttl => ttl,
    };
    let keep_for = duration(
        raw.keep_for.as_deref(),
        DEFAULT_KEEP_FOR,
        true,
        "outputs.keep_for",
        problems,
    );
    let max_bytes = match raw.max_bytes.map(|n| n.0) {
        None => Some(DEFAULT_MAX_BYTES),
        Some(0) => {
            problems.add("outputs.max_bytes", "must be greater than 0");
            None
        }
        Some(n) => Some(n),
    };
    let signing_key = match raw.signing_key.as_deref() {
        None => Some(None),
        Some(_) if kind == Some("s3") => {
            problems.add(
                "outputs.signing_key",
                "is not used by storage kind s3 (its URLs are presigned by S3)",
            );
            None
        }
        Some(text) => signing_key(text, "outputs.signing_key", problems).map(Some),
    };
    Some(OutputSettings {
        storage: storage?,
        url_ttl: url_ttl?,
        keep_for: keep_for?,
        max_bytes: max_bytes?,
        signing_key: signing_key?,
    })
}

/// The HMAC key of signed file URLs: a credential of at least 32 bytes. Never echoed.
fn signing_key(text: &str, path: &str, problems: &mut Problems) -> Option<Secret> {
    let key = secret(Some(text), path, problems)?;
    if key.len() < OutputSettings::MIN_SIGNING_KEY_BYTES {
        problems.add(
            path,
            format!(
                "must be at least {} bytes (`openssl rand -base64 32` makes one)",
                OutputSettings::MIN_SIGNING_KEY_BYTES
            ),
        );
        return None;
    }
    Some(Secret::new(key))
}

fn storage(raw: &RawStorage, problems: &mut Problems) -> Option<StorageSettings> {
    let Some(kind) = raw.kind.as_deref() else {
        problems.add(
            "outputs.storage.kind",
            format!("missing required field: one of {KINDS}"),
        );
        return None;
    };
    let mut unused = |field: &str, present: bool| {
        if present {
            problems.add(
                &format!("outputs.storage.{field}"),
                format!("is not used by storage kind {kind}"),
            );
        }
        present
    };
    match kind {
        "local" => {
            let s3_keys = [
                ("bucket", raw.bucket.is_some()),
                ("prefix", raw.prefix.is_some()),
                ("region", raw.region.is_some()),
                ("endpoint", raw.endpoint.is_some()),
                ("access_key_id", raw.access_key_id.is_some()),
                ("secret_access_key", raw.secret_access_key.is_some()),
            ];
            let mut extra = false;
            for (field, present) in s3_keys {
                extra |= unused(field, present);
            }
            let path = local_path(raw.path.as_deref(), problems);
            let path = path.filter(|_| !extra)?;
            Some(StorageSettings {
                kind: StorageKind::Local { path },
            })
        }
        "s3" => {
            let extra = unused("path", raw.path.is_some());
            let s3 = s3(raw, problems).filter(|_| !extra)?;
            Some(StorageSettings {
                kind: StorageKind::S3(s3),
            })
        }
        other => {
            problems.add(
                "outputs.storage.kind",
                format!("unknown storage kind '{other}': expected one of {KINDS}"),
            );
            None
        }
    }
}

fn local_path(raw: Option<&str>, problems: &mut Problems) -> Option<PathBuf> {
    match raw {
        None => {
            problems.add("outputs.storage.path", "required for storage kind local");
            None
        }
        Some("") => {
            problems.add("outputs.storage.path", "must not be empty");
            None
        }
        Some(path) => Some(PathBuf::from(path)),
    }
}

fn s3(raw: &RawStorage, problems: &mut Problems) -> Option<S3Settings> {
    let at = |field: &str| format!("outputs.storage.{field}");
    let bucket = bucket(raw.bucket.as_deref(), &at("bucket"), problems);
    let prefix = raw.prefix.clone().unwrap_or_default();
    let prefix = match S3Settings::check_prefix(&prefix) {
        Ok(()) => Some(prefix),
        Err(e) => {
            problems.add(&at("prefix"), e.to_string());
            None
        }
    };
    let region = match raw.region.as_deref() {
        None => Some(DEFAULT_REGION.to_string()),
        Some("") => {
            problems.add(&at("region"), "must not be empty");
            None
        }
        Some(region) => Some(region.to_string()),
    };
    let endpoint = match raw.endpoint.as_deref() {
        None => Some(None),
        Some(text) => endpoint(text, &at("endpoint"), problems).map(Some),
    };
    let (access_key_id, secret_access_key) = s3_keys(raw, problems)?;
    Some(S3Settings {
        bucket: bucket?,
        prefix: prefix?,
        region: region?,
        endpoint: endpoint?,
        access_key_id,
        secret_access_key,
    })
}

fn bucket(raw: Option<&str>, path: &str, problems: &mut Problems) -> Option<String> {
    let problem = match raw {
        None => "required for storage kind s3",
        Some("") => "must not be empty",
        Some(name) if name.contains('/') => {
            "must be a bucket name without '/' (put a key prefix in prefix)"
        }
        Some(name) => return Some(name.to_string()),
    };
    problems.add(path, problem);
    None
}

/// An S3-compatible service's address: absolute http(s), kept as written.
fn endpoint(text: &str, path: &str, problems: &mut Problems) -> Option<String> {
    let has_credentials = url::Url::parse(text)
        .is_ok_and(|url| !url.username().is_empty() || url.password().is_some());
    if has_credentials {
        problems.add(
            path,
            "must not hold credentials (put them in access_key_id and secret_access_key)",
        );
        return None;
    }
    http_url(text, path, problems).map(|_| text.to_string())
}

/// Both keys or neither (then the ambient AWS credentials); `None` when they are unusable.
fn s3_keys(raw: &RawStorage, problems: &mut Problems) -> Option<(Option<Secret>, Option<Secret>)> {
    const BOTH: &str = "give both keys, or neither for the ambient AWS credentials";
    let mut key = |text: Option<&str>, field: &str| match text {
        None => Some(None),
        Some(text) => secret(Some(text), &format!("outputs.storage.{field}"), problems)
            .map(|k| Some(Secret::new(k))),
    };
    let id = key(raw.access_key_id.as_deref(), "access_key_id");
    let secret_key = key(raw.secret_access_key.as_deref(), "secret_access_key");
    match (&raw.access_key_id, &raw.secret_access_key) {
        (Some(_), None) => problems.add(
            "outputs.storage.secret_access_key",
            format!("required with access_key_id ({BOTH})"),
        ),
        (None, Some(_)) => problems.add(
            "outputs.storage.access_key_id",
            format!("required with secret_access_key ({BOTH})"),
        ),
        _ => return Some((id?, secret_key?)),
    }
    None
}
