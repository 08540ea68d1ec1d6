//! Reading the file with the `config` crate: YAML → tree → `${VAR}` substitution → typed raw
//! sections, with every failure turned into a problem at its YAML path.
//!
//! The `config` crate keeps nested keys as written (no case folding), so tenant and provider
//! names like `Acme` or `comet-official` survive. Only top-level keys go through its path
//! syntax (so a top-level `server.listen: ...` is read as `server: {listen: ...}`, a quirk
//! of that crate); below the top, keys are taken verbatim.

use std::collections::BTreeMap;

use config::{ConfigError, FileFormat, Source, Value, ValueKind};
use serde::de::DeserializeOwned;

use crate::env::{substitute_tree, Env};
use crate::problems::{self, Problems, ROOT};
use crate::raw::{RawConfig, RawDocument};

/// The typed raw sections, or `None` when the file is not readable as a whole (the problem is
/// recorded).
pub(crate) fn read(text: &str, env: Env, problems: &mut Problems) -> Option<RawConfig> {
    let parsed = config::Config::builder()
        .add_source(config::File::from_str(text, FileFormat::Yaml))
        .build()
        .and_then(|c| c.collect());
    let mut root = match parsed {
        Ok(map) => map,
        Err(e) => {
            problems.add(problems::FILE, format!("not a YAML map: {e}"));
            return None;
        }
    };
    for (k, v) in root.iter_mut() {
        substitute_tree(v, k, env, problems);
    }
    let document: RawDocument = typed(Value::new(None, ValueKind::Table(root)), "", problems)?;
    Some(RawConfig {
        server: section(document.server, "server", problems),
        store: section(document.store, "store", problems),
        cluster: document.cluster.and_then(|v| typed(v, "cluster", problems)),
        tasks: section(document.tasks, "tasks", problems),
        webhooks: section(document.webhooks, "webhooks", problems),
        providers: entries(document.providers, "providers", problems),
        tenants: entries(document.tenants, "tenants", problems),
        outputs: document.outputs.map(|v| typed(v, "outputs", problems)),
    })
}

/// An optional section: absent or empty means all defaults.
fn section<T: DeserializeOwned + Default>(
    value: Option<Value>,
    path: &str,
    problems: &mut Problems,
) -> Option<T> {
    match value {
        None => Some(T::default()),
        Some(v) => typed(v, path, problems),
    }
}

/// A map of named entries, each read on its own so every bad entry is reported.
fn entries<T: DeserializeOwned>(
    map: Option<BTreeMap<String, Value>>,
    path: &str,
    problems: &mut Problems,
) -> BTreeMap<String, Option<T>> {
    map.unwrap_or_default()
        .into_iter()
        .map(|(name, v)| {
            let entry = typed(v, &problems::key(path, &name), problems);
            (name, entry)
        })
        .collect()
}

fn typed<T: DeserializeOwned>(value: Value, path: &str, problems: &mut Problems) -> Option<T> {
    value
        .try_deserialize()
        .map_err(|e| {
            let (at, message) = describe(e);
            let full = match at {
                None => path.to_string(),
                Some(at) if path.is_empty() => at,
                Some(at) if at.starts_with('[') => format!("{path}{at}"),
                Some(at) => format!("{path}.{at}"),
            };
            let full = if full.is_empty() {
                ROOT.to_string()
            } else {
                full
            };
            problems.add(&full, message);
        })
        .ok()
}

/// The path (relative to the value deserialized) and a plain message.
fn describe(error: ConfigError) -> (Option<String>, String) {
    match error {
        ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => (
            key,
            format!("invalid type: {unexpected}, expected {expected}"),
        ),
        ConfigError::NotFound(key) => (Some(key), "missing required field".to_string()),
        ConfigError::At { error, key, .. } => (key, describe(*error).1),
        ConfigError::Message(message) => (None, message.replace('`', "'")),
        other => (None, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn keys_keep_their_case_and_dashes() {
        let mut p = Problems::default();
        let raw = read(
            "providers:\n  comet-Official: {type: runway}\ntenants:\n  Acme: {keys: []}\n",
            &no_env,
            &mut p,
        )
        .unwrap();
        assert!(p.is_empty());
        assert!(raw.providers.contains_key("comet-Official"));
        assert!(raw.tenants.contains_key("Acme"));
    }

    #[test]
    fn unknown_keys_are_reported_at_their_parent() {
        let mut p = Problems::default();
        read(
            "tenants:\n  acme:\n    rate_limit: {per_minute: 5, per_day: 1}\n",
            &no_env,
            &mut p,
        );
        let e = p.into_errors();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].path, "tenants.acme.rate_limit");
        assert!(e.0[0].message.starts_with("unknown field 'per_day'"), "{e}");
    }

    #[test]
    fn wrong_types_name_their_path() {
        let mut p = Problems::default();
        read("tenants:\n  acme:\n    keys: [[1]]\n", &no_env, &mut p);
        let e = p.into_errors();
        assert_eq!(e.0[0].path, "tenants.acme.keys[0]", "{e}");
        assert_eq!(e.0[0].message, "invalid type: sequence, expected a string");
    }

    #[test]
    fn not_yaml_is_a_file_problem() {
        let mut p = Problems::default();
        assert!(read("a: [1\n", &no_env, &mut p).is_none());
        assert!(read("- 1\n", &no_env, &mut p).is_none());
        let e = p.into_errors();
        assert!(e.0.iter().all(|x| x.path == "<file>"), "{e}");
    }
}
