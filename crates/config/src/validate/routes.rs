//! A tenant's `routes` and `upstream_keys`: the parts that refer to providers.

use std::collections::{BTreeMap, BTreeSet};

use taskgate_core::{ProviderKind, Secret, TaskType};

use super::fields::secret;
use crate::problems::{self, Problems};

/// Task type → providers in fallback order. Each provider must exist and be able to run the
/// type in this gateway (`public_url`: whether the file sets `server.public_url`, which some
/// dialects need for some types); a provider whose own entry is broken is only checked for
/// existence. A provider that can never run its place on a route is a problem even when
/// another on the route can: the setting is wrong either way.
pub(crate) fn routes(
    raw: &BTreeMap<String, Vec<String>>,
    path: &str,
    provider_kinds: &BTreeMap<String, Option<ProviderKind>>,
    public_url: bool,
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
                Some(Some(kind)) => {
                    if let Err(why) = kind.can_run(task_type, public_url) {
                        let who = format!("provider '{provider}' (type {})", kind.as_str());
                        problems.add(&item, why.describe(&who, task_type));
                    }
                }
                Some(None) => {}
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
