//! The `providers` section.

use std::collections::BTreeMap;
use std::time::Duration;

use taskgate_core::{AdapterSettings, ProviderKind, ProviderSettings, Secret};

use super::fields::{bounded, duration, http_url, name, rate_limit, secret, NameRule};
use crate::problems::{self, Problems};
use crate::raw::{RawCircuit, RawProvider};
use crate::ready::{CircuitSettings, ProviderConfig, MAX_CONCURRENT};

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
    let limit_wait = duration(
        raw.limit_wait.as_deref(),
        DEFAULT_LIMIT_WAIT,
        false,
        &at("limit_wait"),
        problems,
    );
    let circuit = circuit(raw.circuit.as_ref(), &at("circuit"), problems);
    if let Some(version) = raw.runway_version.as_deref() {
        runway_version(version, kind, &at("runway_version"), problems);
    }
    let max_concurrent = match raw.max_concurrent {
        None => Some(None),
        Some(n) => bounded(
            Some(n.0),
            1,
            (1, MAX_CONCURRENT),
            &at("max_concurrent"),
            problems,
        )
        .map(Some),
    };
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
        limit_wait: limit_wait?,
        circuit: circuit?,
        max_concurrent: max_concurrent?,
    })
}

const DEFAULT_LIMIT_WAIT: Duration = Duration::from_millis(250);

fn circuit(
    raw: Option<&RawCircuit>,
    path: &str,
    problems: &mut Problems,
) -> Option<CircuitSettings> {
    let d = CircuitSettings::default();
    let Some(raw) = raw else {
        return Some(d);
    };
    let at = |field: &str| problems::key(path, field);
    let window = duration(
        raw.window.as_deref(),
        d.window,
        true,
        &at("window"),
        problems,
    );
    let open_for = duration(
        raw.open_for.as_deref(),
        d.open_for,
        true,
        &at("open_for"),
        problems,
    );
    let min_calls = raw.min_calls.unwrap_or(d.min_calls);
    if min_calls == 0 {
        problems.add(&at("min_calls"), "must be at least 1");
    }
    let error_ratio = raw.error_ratio.unwrap_or(d.error_ratio);
    if !(error_ratio > 0.0 && error_ratio <= 1.0) {
        problems.add(&at("error_ratio"), "must be a number above 0 and at most 1");
        return None;
    }
    Some(CircuitSettings {
        window: window?,
        min_calls: (min_calls > 0).then_some(min_calls)?,
        error_ratio,
        open_for: open_for?,
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
