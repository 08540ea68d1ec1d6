//! The `tenants` section: keys, limits, webhook secret, callback hosts. Routes and upstream
//! keys, which refer to providers, are in `routes.rs`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use taskgate_core::{ProviderKind, Secret};

use super::fields::{bounded, name, rate_limit, NameRule};
use super::hosts::callback_hosts;
use super::routes::{routes, upstream_keys};
use crate::keys::parse_key_hash;
use crate::problems::{self, Problems};
use crate::raw::RawTenant;
use crate::ready::{TenantConfig, DEFAULT_MAX_QUEUED, DEFAULT_QUEUE_WEIGHT, MAX_QUEUE_WEIGHT};

const MIN_WEBHOOK_SECRET_BYTES: usize = 16;
const DEFAULT_STORE_OUTPUTS: bool = true;

/// What tenants depend on elsewhere in the file.
pub(crate) struct Context<'a> {
    /// Every provider named in the file, with its kind when known.
    pub provider_kinds: &'a BTreeMap<String, Option<ProviderKind>>,
    /// Whether the file sets `server.public_url` (routes depend on it).
    pub public_url: bool,
    /// Whether the file has an `outputs` section (`store_outputs` needs one).
    pub outputs: bool,
}

pub(crate) fn tenants(
    raw: &BTreeMap<String, Option<RawTenant>>,
    context: &Context,
    problems: &mut Problems,
) -> BTreeMap<String, TenantConfig> {
    // Key hash → where it was first seen: a key must identify exactly one tenant.
    let mut key_owners: BTreeMap<[u8; 32], String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (tenant_name, entry) in raw {
        let path = problems::key("tenants", tenant_name);
        let before = problems.len();
        name(tenant_name, NameRule::Tenant, &path, problems);
        let Some(entry) = entry else {
            continue;
        };
        let tenant = tenant(
            tenant_name,
            entry,
            &path,
            context,
            &mut key_owners,
            problems,
        );
        if let Some(tenant) = tenant.filter(|_| problems.len() == before) {
            out.insert(tenant_name.clone(), tenant);
        }
    }
    out
}

fn tenant(
    tenant_name: &str,
    raw: &RawTenant,
    path: &str,
    context: &Context,
    key_owners: &mut BTreeMap<[u8; 32], String>,
    problems: &mut Problems,
) -> Option<TenantConfig> {
    let at = |field: &str| problems::key(path, field);
    let key_hashes = key_hashes(raw.keys.as_deref(), &at("keys"), key_owners, problems);
    let limit = match &raw.rate_limit {
        None => Some(None),
        Some(r) => rate_limit(r, &at("rate_limit"), problems).map(Some),
    };
    if raw.max_unfinished_tasks == Some(0) {
        problems.add(&at("max_unfinished_tasks"), "must be greater than 0");
    }
    let queue_weight = bounded(
        raw.queue_weight.map(|n| n.0),
        DEFAULT_QUEUE_WEIGHT,
        (1, MAX_QUEUE_WEIGHT),
        &at("queue_weight"),
        problems,
    );
    // Any count (0: none of this tenant's tasks may wait); others fail as types.
    let max_queued = raw.max_queued.map_or(DEFAULT_MAX_QUEUED, |n| n.0);
    let webhook_secret = match raw.webhook_secret.as_deref() {
        None => Some(None),
        Some(text) => webhook_secret(text, &at("webhook_secret"), problems).map(Some),
    };
    let (no_routes, no_keys) = (BTreeMap::new(), BTreeMap::new());
    let routes = routes(
        raw.routes.as_ref().unwrap_or(&no_routes),
        &at("routes"),
        context.provider_kinds,
        context.public_url,
        problems,
    );
    let upstream_keys = upstream_keys(
        raw.upstream_keys.as_ref().unwrap_or(&no_keys),
        &at("upstream_keys"),
        context.provider_kinds,
        problems,
    );
    let allowed_callback_hosts = match raw.allowed_callback_hosts.as_deref() {
        None => Some(None),
        Some(list) => callback_hosts(list, &at("allowed_callback_hosts"), problems).map(Some),
    };
    // Either value is refused without `outputs`: like a key of another store kind, it would
    // look like a setting while doing nothing.
    let store_outputs = match raw.store_outputs {
        Some(_) if !context.outputs => {
            problems.add(
                &at("store_outputs"),
                "is not used without an outputs section (no output is stored without one)",
            );
            None
        }
        value => Some(value.unwrap_or(DEFAULT_STORE_OUTPUTS)),
    };
    Some(TenantConfig {
        name: tenant_name.to_string(),
        key_hashes: key_hashes?,
        rate_limit: limit?,
        max_unfinished_tasks: raw.max_unfinished_tasks,
        queue_weight: queue_weight?,
        max_queued,
        webhook_secret: webhook_secret?,
        routes: routes?,
        upstream_keys: upstream_keys?,
        allowed_callback_hosts: allowed_callback_hosts?,
        store_outputs: store_outputs?,
    })
}

fn key_hashes(
    raw: Option<&[String]>,
    path: &str,
    key_owners: &mut BTreeMap<[u8; 32], String>,
    problems: &mut Problems,
) -> Option<Vec<[u8; 32]>> {
    let list = raw.unwrap_or_default();
    if list.is_empty() {
        problems.add(
            path,
            "at least one key hash (sha256:<64 hex digits>) is required",
        );
        return None;
    }
    let before = problems.len();
    let mut hashes = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        let item = problems::index(path, i);
        let Some(hash) = parse_key_hash(text) else {
            problems.add(
                &item,
                "must be 'sha256:' and 64 hex digits (the hash of the key, not the key: see `taskgate key hash`)",
            );
            continue;
        };
        match key_owners.get(&hash) {
            Some(first) => problems.add(&item, format!("the same key hash as {first}")),
            None => {
                key_owners.insert(hash, item);
            }
        }
        hashes.push(hash);
    }
    (problems.len() == before).then_some(hashes)
}

/// `whsec_` and standard base64 of at least 16 bytes (the Standard Webhooks form). The value
/// is never echoed.
fn webhook_secret(text: &str, path: &str, problems: &mut Problems) -> Option<Secret> {
    let Some(encoded) = text.strip_prefix("whsec_") else {
        problems.add(path, "must start with 'whsec_' (whsec_<base64>)");
        return None;
    };
    match STANDARD.decode(encoded) {
        Ok(bytes) if bytes.len() >= MIN_WEBHOOK_SECRET_BYTES => Some(Secret::new(text)),
        Ok(_) => {
            problems.add(
                path,
                format!("must hold at least {MIN_WEBHOOK_SECRET_BYTES} bytes after 'whsec_'"),
            );
            None
        }
        Err(_) => {
            problems.add(path, "is not valid base64 after 'whsec_'");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secrets_are_whsec_base64_of_16_bytes() {
        let mut p = Problems::default();
        let good = format!("whsec_{}", STANDARD.encode([7u8; 24]));
        assert!(webhook_secret(&good, "w", &mut p).is_some());
        assert!(p.is_empty());
        let short = format!("whsec_{}", STANDARD.encode([7u8; 15]));
        for bad in [
            short.as_str(),
            "whsec_not base64!",
            "sk_abcdefabcdefabcdefabcdef",
            "",
        ] {
            assert!(webhook_secret(bad, "w", &mut p).is_none(), "{bad}");
        }
        assert_eq!(p.len(), 4);
    }
}
