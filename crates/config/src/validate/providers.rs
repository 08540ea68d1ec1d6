//! The `providers` section.

use std::collections::BTreeMap;
use std::time::Duration;

use taskgate_core::{AdapterSettings, ProviderKind, ProviderSettings, Secret};

use super::fields::{duration, http_url, name, rate_limit, secret, NameRule};
use crate::problems::{self, Problems};
use crate::raw::RawProvider;
use crate::ready::ProviderConfig;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 2;
const MAX_RETRIES: u32 = 10;

/// The kinds whose adapter sends `X-Runway-Version`.
const RUNWAY_VERSION_KINDS: [ProviderKind; 3] = [
    ProviderKind::CometapiCompat,
    ProviderKind::CometapiOfficial,
    ProviderKind::Runway,
];

/// The valid providers, and the kind of every provider whose `type` could be read (tenant
/// routes are checked against those even when something else about the provider is wrong).
pub(crate) struct Providers {
    pub valid: BTreeMap<String, ProviderConfig>,
    pub kinds: BTreeMap<String, Option<ProviderKind>>,
}

pub(crate) fn providers(
    raw: &BTreeMap<String, Option<RawProvider>>,
    problems: &mut Problems,
) -> Providers {
    if raw.is_empty() {
        problems.add("providers", "at least one provider is required");
    }
    let mut out = Providers {
        valid: BTreeMap::new(),
        kinds: BTreeMap::new(),
    };
    for (provider_name, entry) in raw {
        let path = problems::key("providers", provider_name);
        let name_ok = name(provider_name, NameRule::Provider, &path, problems);
        let kind = entry
            .as_ref()
            .and_then(|p| provider_kind(p.kind.as_deref(), &path, problems));
        out.kinds.insert(provider_name.clone(), kind);
        let (Some(entry), Some(kind)) = (entry, kind) else {
            continue;
        };
        if let Some(config) = provider(provider_name, kind, entry, &path, problems) {
            if name_ok {
                out.valid.insert(provider_name.clone(), config);
            }
        }
    }
    out
}

fn provider_kind(raw: Option<&str>, path: &str, problems: &mut Problems) -> Option<ProviderKind> {
    let path = problems::key(path, "type");
    let allowed = || {
        ProviderKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(word) = raw else {
        problems.add(
            &path,
            format!("missing required field: one of {}", allowed()),
        );
        return None;
    };
    let kind = ProviderKind::ALL.into_iter().find(|k| k.as_str() == word);
    if kind.is_none() {
        problems.add(
            &path,
            format!(
                "unknown provider type '{word}': expected one of {}",
                allowed()
            ),
        );
    }
    kind
}

fn provider(
    provider_name: &str,
    kind: ProviderKind,
    raw: &RawProvider,
    path: &str,
    problems: &mut Problems,
) -> Option<ProviderConfig> {
    let at = |field: &str| problems::key(path, field);
    let before = problems.len();
    let base_url = match raw.base_url.as_deref() {
        Some(text) => http_url(text, &at("base_url"), problems),
        None => {
            problems.add(&at("base_url"), "missing required field");
            None
        }
    };
    let api_key = secret(raw.api_key.as_deref(), &at("api_key"), problems);
    let timeout = duration(
        raw.timeout.as_deref(),
        DEFAULT_TIMEOUT,
        true,
        &at("timeout"),
        problems,
    );
    let retries = raw.retries.unwrap_or(DEFAULT_RETRIES);
    if retries > MAX_RETRIES {
        problems.add(&at("retries"), format!("must be at most {MAX_RETRIES}"));
    }
    let limit = raw
        .rate_limit
        .as_ref()
        .map(|r| rate_limit(r, &at("rate_limit"), problems));
    if let Some(version) = raw.runway_version.as_deref() {
        runway_version(version, kind, &at("runway_version"), problems);
    }
    if problems.len() != before {
        return None;
    }
    Some(ProviderConfig {
        settings: ProviderSettings {
            name: provider_name.to_string(),
            kind,
            base_url: base_url?,
            api_key: Secret::new(api_key?),
            timeout: timeout?,
            adapter: AdapterSettings {
                runway_version: raw.runway_version.clone(),
            },
        },
        retries,
        rate_limit: match limit {
            None => None,
            Some(l) => Some(l?),
        },
    })
}

fn runway_version(version: &str, kind: ProviderKind, path: &str, problems: &mut Problems) {
    if !RUNWAY_VERSION_KINDS.contains(&kind) {
        problems.add(
            path,
            format!("is not used by provider type {}", kind.as_str()),
        );
    } else if !is_runway_version(version) {
        problems.add(
            path,
            format!("'{version}' is not a Runway API version (a date: YYYY-MM-DD)"),
        );
    }
}

/// `YYYY-MM-DD`, as Runway names its API versions.
fn is_runway_version(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runway_versions_are_dates() {
        assert!(is_runway_version("2024-11-06"));
        assert!(!is_runway_version("2024-11-6"));
        assert!(!is_runway_version("2024-11-06\r\nX: y"));
        assert!(!is_runway_version("latest"));
    }
}
