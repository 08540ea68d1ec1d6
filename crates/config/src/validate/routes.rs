//! A tenant's `routes` and `upstream_keys`: the parts that refer to providers.

use std::collections::{BTreeMap, BTreeSet};

use taskgate_core::{ProviderKind, Secret, TaskType};

use super::fields::secret;
use crate::problems::{self, Problems};

/// Task type → providers in fallback order. Each provider must exist and be able to run the
/// type; a provider whose own entry is broken is only checked for existence.
pub(crate) fn routes(
    raw: &BTreeMap<String, Vec<String>>,
    path: &str,
    provider_kinds: &BTreeMap<String, Option<ProviderKind>>,
    problems: &mut Problems,
) -> Option<BTreeMap<TaskType, Vec<String>>> {
    let before = problems.len();
    let mut out = BTreeMap::new();
    for (type_word, route) in raw {
        let route_path = problems::key(path, type_word);
        let Some(task_type) = TaskType::parse(type_word) else {
            let known: Vec<&str> = TaskType::ALL.iter().map(|t| t.as_str()).collect();
            problems.add(
                &route_path,
                format!(
                    "unknown task type '{type_word}': expected one of {}",
                    known.join(", ")
                ),
            );
            continue;
        };
        if route.is_empty() {
            problems.add(&route_path, "must name at least one provider");
        }
        let mut seen = BTreeSet::new();
        for (i, provider) in route.iter().enumerate() {
            let item = problems::index(&route_path, i);
            if !seen.insert(provider.as_str()) {
                problems.add(
                    &item,
                    format!("provider '{provider}' is already on this route"),
                );
                continue;
            }
            match provider_kinds.get(provider) {
                None => problems.add(&item, format!("unknown provider '{provider}'")),
                Some(Some(kind)) if !kind.capabilities().runs(task_type) => problems.add(
                    &item,
                    format!(
                        "provider '{provider}' (type {}) cannot run {task_type}",
                        kind.as_str()
                    ),
                ),
                Some(_) => {}
            }
        }
        out.insert(task_type, route.clone());
    }
    (problems.len() == before).then_some(out)
}

/// Provider name → this tenant's own key for it.
pub(crate) fn upstream_keys(
    raw: &BTreeMap<String, String>,
    path: &str,
    provider_kinds: &BTreeMap<String, Option<ProviderKind>>,
    problems: &mut Problems,
) -> Option<BTreeMap<String, Secret>> {
    let before = problems.len();
    let mut out = BTreeMap::new();
    for (provider, key) in raw {
        let key_path = problems::key(path, provider);
        if !provider_kinds.contains_key(provider) {
            problems.add(&key_path, format!("unknown provider '{provider}'"));
            continue;
        }
        if let Some(key) = secret(Some(key), &key_path, problems) {
            out.insert(provider.clone(), Secret::new(key));
        }
    }
    (problems.len() == before).then_some(out)
}
