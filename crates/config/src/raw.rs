//! The file as written: serde shapes with every field optional (validation says what is
//! required, with a better message than serde's), unknown keys refused.
//!
//! Deliberately no `Debug`: these hold secrets in plain text.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Unexpected, Visitor};
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
    pub outputs: Option<config::Value>,
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
    /// `None`: no `outputs` section (outputs are not stored); `Some(None)`: a section that
    /// could not be read.
    pub outputs: Option<Option<RawOutputs>>,
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
    pub progress_every: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawTasks {
    pub refresh_after: Option<String>,
    pub not_found_grace: Option<String>,
    pub watch_every: Option<String>,
    pub give_up_after: Option<String>,
    pub max_queued_for: Option<String>,
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
    pub max_concurrent: Option<Count>,
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
    pub queue_weight: Option<Count>,
    pub max_queued: Option<Count>,
    pub webhook_secret: Option<String>,
    pub routes: Option<BTreeMap<String, Vec<String>>>,
    pub upstream_keys: Option<BTreeMap<String, String>>,
    pub allowed_callback_hosts: Option<Vec<String>>,
    pub store_outputs: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawOutputs {
    pub storage: Option<RawStorage>,
    pub url_ttl: Option<String>,
    pub keep_for: Option<String>,
    pub max_bytes: Option<Count>,
    pub signing_key: Option<String>,
}

/// Every key of every storage kind; validation refuses those the kind does not use.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawStorage {
    pub kind: Option<String>,
    pub path: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// A whole number of 0 or more, read wide (so an out-of-range value gets its range in the
/// message, not a type error) and strictly: the `config` crate fills a plain integer field
/// from `2.5` or `true` by coercion, this refuses them. A string of digits is read too (a
/// `${VAR}` always gives a string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Count, D::Error> {
        deserializer.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl Visitor<'_> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Count, E> {
        Ok(Count(n))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Count, E> {
        u64::try_from(n)
            .map(Count)
            .map_err(|_| E::invalid_value(Unexpected::Signed(n), &"a whole number of 0 or more"))
    }

    fn visit_u128<E: de::Error>(self, n: u128) -> Result<Count, E> {
        u64::try_from(n)
            .map(Count)
            .map_err(|_| E::custom(format!("{n} is too large")))
    }

    fn visit_i128<E: de::Error>(self, n: i128) -> Result<Count, E> {
        match u64::try_from(n) {
            Ok(n) => Ok(Count(n)),
            Err(_) if n < 0 => Err(E::custom(format!(
                "invalid value: {n}, expected a whole number of 0 or more"
            ))),
            Err(_) => Err(E::custom(format!("{n} is too large"))),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Count, E> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::invalid_value(Unexpected::Str(text), &self));
        }
        text.parse()
            .map(Count)
            .map_err(|_| E::custom(format!("{text} is too large")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: config::Value) -> Result<u64, String> {
        Count::deserialize(value)
            .map(|c| c.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn counts_are_whole_numbers_or_digit_strings() {
        assert_eq!(read(config::Value::from(5u64)), Ok(5));
        assert_eq!(read(config::Value::from(0i64)), Ok(0));
        assert_eq!(read(config::Value::from("42")), Ok(42));
        assert_eq!(
            read(config::Value::from("18446744073709551615")),
            Ok(u64::MAX)
        );
        for bad in [
            config::Value::from(-1i64),
            config::Value::from(2.5),
            config::Value::from(1.0),
            config::Value::from(true),
            config::Value::from(""),
            config::Value::from("+5"),
            config::Value::from("1e3"),
            config::Value::from("lots"),
            config::Value::from("18446744073709551616"),
        ] {
            let shown = format!("{bad:?}");
            assert!(read(bad).is_err(), "{shown} was accepted");
        }
    }
}
