//! taskgate's configuration: the YAML file is read (with the `config` crate), `${VAR}`s are
//! substituted in its values, then it is validated once — every problem collected with its
//! YAML path — and frozen into the typed [`Config`] the server runs with.
//!
//! The file format is described in `CONFIG.md`; `config/example.yaml` explains every option.

mod duration;
mod env;
mod keys;
mod problems;
mod raw;
mod ready;
mod source;
mod validate;

use std::path::Path;

pub use keys::{format_key_hash, hash_key, new_tenant_key};
pub use problems::{ConfigErrors, ConfigProblem};
pub use ready::{
    CircuitSettings, ClusterConfig, Config, ProviderConfig, RateLimit, ServerConfig, StoreConfig,
    TaskTimings, TenantConfig, WebhookSettings, DEFAULT_CLUSTER_NAMESPACE, DEFAULT_MAX_QUEUED,
    DEFAULT_QUEUE_WEIGHT, DEFAULT_SQLITE_PATH, MAX_CONCURRENT, MAX_HEADER_BYTES, MAX_HEADER_COUNT,
    MAX_QUEUE_WEIGHT, MIN_HEADER_BYTES,
};

use problems::Problems;

/// Reads, checks and freezes the config file at `path`, with `${VAR}`s from the process
/// environment. A file that cannot be read is one problem at path `<file>`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors::file(format!("cannot read {}: {e}", path.display())))?;
    from_yaml(&text, &|name| std::env::var(name).ok())
}

/// Checks and freezes config text, with `${VAR}`s from `env`. On failure, every problem found,
/// sorted by path.
pub fn from_yaml(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let mut problems = Problems::default();
    let version = keys::sha256_hex(text).chars().take(12).collect();
    let config = source::read(text, env, &mut problems)
        .and_then(|raw| validate::validate(&raw, version, &mut problems));
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(problems.into_errors()),
    }
}
