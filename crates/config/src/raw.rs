//! The file as written: serde shapes with every field optional (validation says what is
//! required, with a better message than serde's), unknown keys refused.
//!
//! Deliberately no `Debug`: these hold secrets in plain text.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The top level. Each section stays an untyped tree here, so one bad section does not hide
/// the problems of the others.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map of sections")]
pub(crate) struct RawDocument {
    pub server: Option<config::Value>,
    pub store: Option<config::Value>,
    pub cluster: Option<config::Value>,
    pub tasks: Option<config::Value>,
    pub webhooks: Option<config::Value>,
    pub providers: Option<BTreeMap<String, config::Value>>,
    pub tenants: Option<BTreeMap<String, config::Value>>,
}

/// Every section, typed. `None` for a section that could not be read (its problem is
/// already recorded) or, for `cluster`, that is absent.
pub(crate) struct RawConfig {
    pub server: Option<RawServer>,
    pub store: Option<RawStore>,
    pub cluster: Option<RawCluster>,
    pub tasks: Option<RawTasks>,
    pub webhooks: Option<RawWebhooks>,
    /// Every provider named in the file; `None` for one that could not be read.
    pub providers: BTreeMap<String, Option<RawProvider>>,
    pub tenants: BTreeMap<String, Option<RawTenant>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawServer {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub public_url: Option<String>,
    pub request_timeout: Option<String>,
    pub body_read_timeout: Option<String>,
    pub max_header_count: Option<u64>,
    pub max_header_bytes: Option<u64>,
    pub shutdown_grace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawStore {
    pub kind: Option<String>,
    pub path: Option<String>,
    pub url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawCluster {
    pub redis_url: Option<String>,
    pub replica_id: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawWebhooks {
    pub timeout: Option<String>,
    pub retry_base: Option<String>,
    pub retry_max: Option<String>,
    pub give_up_after: Option<String>,
    pub deny_private_networks: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawTasks {
    pub refresh_after: Option<String>,
    pub not_found_grace: Option<String>,
    pub watch_every: Option<String>,
    pub give_up_after: Option<String>,
}

/// `type` is read as a word and checked against `ProviderKind::ALL`, so a new provider kind
/// in core needs no change here, and a wrong one lists the right ones.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawProvider {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub rate_limit: Option<RawRateLimit>,
    pub limit_wait: Option<String>,
    pub circuit: Option<RawCircuit>,
    pub runway_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a map like {window: 30s, min_calls: 10, error_ratio: 0.5, open_for: 15s}"
)]
pub(crate) struct RawCircuit {
    pub window: Option<String>,
    pub min_calls: Option<u32>,
    pub error_ratio: Option<f64>,
    pub open_for: Option<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a map like {per_second: 5, burst: 10}"
)]
pub(crate) struct RawRateLimit {
    pub per_second: Option<u32>,
    pub per_minute: Option<u32>,
    pub per_hour: Option<u32>,
    pub burst: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawTenant {
    pub keys: Option<Vec<String>>,
    pub rate_limit: Option<RawRateLimit>,
    pub max_unfinished_tasks: Option<u64>,
    pub webhook_secret: Option<String>,
    pub routes: Option<BTreeMap<String, Vec<String>>>,
    pub upstream_keys: Option<BTreeMap<String, String>>,
    pub allowed_callback_hosts: Option<Vec<String>>,
}
