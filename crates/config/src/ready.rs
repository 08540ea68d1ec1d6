//! The frozen config: every value checked, typed and defaulted. Built only by validation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use taskgate_core::{ProviderSettings, Secret, TaskType};
use taskgate_outputs::OutputSettings;

/// The whole validated config. Immutable; share it behind an `Arc` (a reload builds a new one).
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub cluster: Option<ClusterConfig>,
    pub tasks: TaskTimings,
    pub webhooks: WebhookSettings,
    /// By name; at least one.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// By name (case preserved).
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Durable outputs: where a succeeded task's outputs are copied, how long their URLs and
    /// objects last. `None` when the file has no `outputs` section: nothing is copied, tasks
    /// show their providers' URLs.
    pub outputs: Option<OutputSettings>,
    /// First 12 hex digits of the SHA-256 of the file text as read (before `${VAR}`
    /// substitution): tells which file a replica runs, without revealing secrets.
    pub version: String,
}

/// The listeners and whole-request limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The tenant API.
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// Larger request bodies are refused (413). Greater than 0.
    pub max_body_bytes: usize,
    /// The gateway's own address as providers can reach it (absolute http(s), no credentials).
    pub public_url: Option<url::Url>,
    /// Cap on handling one request, end to end. Greater than 0.
    pub request_timeout: Duration,
    /// Longest wait for the next byte of a request body the client is sending (an idle
    /// bound: a slow upload that keeps moving is not cut). Greater than 0, at most
    /// `request_timeout` (its default, 10 s, is lowered to a shorter `request_timeout`).
    pub body_read_timeout: Duration,
    /// More request header fields than this are refused (431). 1 to [`MAX_HEADER_COUNT`].
    pub max_header_count: usize,
    /// Request header fields larger than this in total (each counted as
    /// `name: value` plus its line end) are refused (431). [`MIN_HEADER_BYTES`] to
    /// [`MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

/// The highest `server.max_header_count`. The HTTP/1 parser reserves room for twice the
/// configured count on every request, so this bounds that per-request cost.
pub const MAX_HEADER_COUNT: usize = 1000;
/// The lowest `server.max_header_bytes`: room for ordinary requests with a bearer key.
pub const MIN_HEADER_BYTES: usize = 1024;
/// The highest `server.max_header_bytes`; the connection's read buffer (hyper's ~408 KiB)
/// must hold a header block larger than this for the gateway to answer it itself.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;

impl Default for ServerConfig {
    /// The values a file gets for what it leaves out.
    fn default() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            max_body_bytes: 1_048_576,
            public_url: None,
            request_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(10),
            max_header_count: 100,
            max_header_bytes: 32 * 1024,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// Where tasks are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Lost on restart; for tests and demos.
    Memory,
    /// One file, one replica. A relative path is relative to the working directory.
    Sqlite { path: PathBuf },
    /// Shared by every replica. The URL may hold a password.
    Postgres { url: Secret },
}

/// The default SQLite file.
pub const DEFAULT_SQLITE_PATH: &str = "data/taskgate.db";

impl StoreConfig {
    /// `memory`, `sqlite` or `postgres`, as the file writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreConfig::Memory => "memory",
            StoreConfig::Sqlite { .. } => "sqlite",
            StoreConfig::Postgres { .. } => "postgres",
        }
    }
}

/// Several replicas working together (only with the postgres store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Global rate limits and cross-replica task events. May hold a password.
    pub redis_url: Secret,
    /// `None`: the caller picks one (host name + pid).
    pub replica_id: Option<String>,
    /// Prefix of every Redis key and channel (`<namespace>:...`), so several deployments
    /// (or tests) can share one Redis. 1 to 64 of `A-Z a-z 0-9 _ - . :`.
    pub namespace: String,
}

/// The default `cluster.namespace`.
pub const DEFAULT_CLUSTER_NAMESPACE: &str = "taskgate";

/// How webhooks to clients are delivered. Durations > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// One delivery attempt's timeout.
    pub timeout: Duration,
    /// Backoff before the first retry; doubles each attempt (full jitter).
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
    /// Stop retrying this long after the task ended.
    pub give_up_after: Duration,
    /// Also refuse callbacks to private and other non-public addresses (10/8, 127/8,
    /// fc00::/7, ...). Off by default: internal receivers are what a sidecar serves.
    pub deny_private_networks: bool,
    /// At most one `task.progress` event per task per this.
    pub progress_every: Duration,
}

impl Default for WebhookSettings {
    fn default() -> WebhookSettings {
        WebhookSettings {
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            deny_private_networks: false,
            progress_every: Duration::from_secs(5),
        }
    }
}

/// When tasks are refreshed from their provider, and when they are given up. All > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskTimings {
    /// A read refreshes an unfinished task not refreshed for this long.
    pub refresh_after: Duration,
    /// "Task not found" this soon after create means queued, not lost.
    pub not_found_grace: Duration,
    /// Period of the background refresh of unfinished tasks.
    pub watch_every: Duration,
    /// Still unfinished after this long: failed with code `timeout`.
    pub give_up_after: Duration,
    /// Waiting in the gateway's queue (for a free `max_concurrent` slot at its provider)
    /// longer than this: failed with code `queue_timeout`.
    pub max_queued_for: Duration,
}

impl Default for TaskTimings {
    fn default() -> TaskTimings {
        TaskTimings {
            refresh_after: Duration::from_secs(2),
            not_found_grace: Duration::from_secs(60),
            watch_every: Duration::from_secs(5),
            give_up_after: Duration::from_secs(2 * 3600),
            max_queued_for: Duration::from_secs(3600),
        }
    }
}

/// One configured provider.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Name, kind, base URL, key, per-call timeout and dialect options.
    pub settings: ProviderSettings,
    /// Retries of a call on 429 / 5xx / connection errors; at most 10.
    pub retries: u32,
    /// For all calls to this provider, all tenants together.
    pub rate_limit: Option<RateLimit>,
    /// How long a create or cancel waits for a rate-limit permit before moving on.
    pub limit_wait: Duration,
    /// When to stop sending calls to a failing provider.
    pub circuit: CircuitSettings,
    /// At most this many unfinished tasks at this provider, all tenants and replicas
    /// together; more wait in the gateway's queue. 1 to [`MAX_CONCURRENT`]; `None`: no cap.
    pub max_concurrent: Option<u32>,
}

/// The highest `providers.X.max_concurrent`.
pub const MAX_CONCURRENT: u32 = 100_000;

/// A circuit breaker: it opens when, over the last `window`, at least `min_calls` calls were
/// made and at least `error_ratio` of them failed; after `open_for` one probe is let through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircuitSettings {
    pub window: Duration,
    pub min_calls: u32,
    pub error_ratio: f64,
    pub open_for: Duration,
}

impl Default for CircuitSettings {
    fn default() -> Self {
        CircuitSettings {
            window: Duration::from_secs(30),
            min_calls: 10,
            error_ratio: 0.5,
            open_for: Duration::from_secs(15),
        }
    }
}

/// A GCRA limit: `count` per `period`, with bursts of up to `burst`. All positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub period: Duration,
    pub burst: u32,
}

/// One tenant: who it is, what it may do, and where its tasks go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    /// The name in the file (case preserved).
    pub name: String,
    /// SHA-256 of each accepted bearer key (see [`crate::hash_key`]); at least one, and no
    /// hash belongs to two tenants.
    pub key_hashes: Vec<[u8; 32]>,
    pub rate_limit: Option<RateLimit>,
    /// Cap on this tenant's unfinished tasks; > 0.
    pub max_unfinished_tasks: Option<u64>,
    /// This tenant's share of freed provider slots against other waiting tenants (a tenant
    /// of weight 2 gets twice the slots of one of weight 1). 1 to [`MAX_QUEUE_WEIGHT`],
    /// default [`DEFAULT_QUEUE_WEIGHT`].
    pub queue_weight: u32,
    /// Cap on this tenant's tasks waiting in the gateway's queue; a create beyond it is
    /// `429 concurrency_limited`. 0: none may wait. Default [`DEFAULT_MAX_QUEUED`].
    pub max_queued: u64,
    /// `whsec_<base64 of ≥ 16 bytes>`, as written in the file.
    pub webhook_secret: Option<Secret>,
    /// Task type → provider names in fallback order. Each list is non-empty, without
    /// duplicates, and names providers that exist and can run that type with this config's
    /// `server.public_url` (see `taskgate_core::ProviderKind::can_run`).
    pub routes: BTreeMap<TaskType, Vec<String>>,
    /// Provider name → this tenant's own key for it (the provider exists).
    pub upstream_keys: BTreeMap<String, Secret>,
    /// `None`: callbacks to any host. Lowercase host names; `*.example.com` matches any
    /// subdomain of `example.com`, not `example.com` itself.
    pub allowed_callback_hosts: Option<Vec<String>>,
    /// Whether this tenant's outputs are copied into the gateway's storage. Default `true`;
    /// only meaningful with [`Config::outputs`] (the file may set it only then).
    pub store_outputs: bool,
}

/// The default `tenants.X.queue_weight`.
pub const DEFAULT_QUEUE_WEIGHT: u32 = 1;
/// The highest `tenants.X.queue_weight`.
pub const MAX_QUEUE_WEIGHT: u32 = 1000;
/// The default `tenants.X.max_queued`.
pub const DEFAULT_MAX_QUEUED: u64 = 1000;

impl TenantConfig {
    /// Whether `provider` is named in one of this tenant's routes or upstream keys.
    pub fn may_use(&self, provider: &str) -> bool {
        self.upstream_keys.contains_key(provider)
            || self
                .routes
                .values()
                .any(|route| route.iter().any(|p| p == provider))
    }

    /// Whether a callback may go to `host` (case-insensitive; a trailing dot is ignored).
    pub fn callback_host_allowed(&self, host: &str) -> bool {
        let Some(allowed) = &self.allowed_callback_hosts else {
            return true;
        };
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        allowed.iter().any(|pattern| host_matches(pattern, &host))
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => host
            .strip_suffix(domain)
            .and_then(|sub| sub.strip_suffix('.'))
            .is_some_and(|sub| !sub.is_empty()),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(hosts: Option<Vec<&str>>) -> TenantConfig {
        TenantConfig {
            name: "acme".to_string(),
            key_hashes: vec![[0; 32]],
            rate_limit: None,
            max_unfinished_tasks: None,
            queue_weight: DEFAULT_QUEUE_WEIGHT,
            max_queued: DEFAULT_MAX_QUEUED,
            webhook_secret: None,
            routes: BTreeMap::from([(TaskType::TextToVideo, vec!["makevid".to_string()])]),
            upstream_keys: BTreeMap::from([("runway".to_string(), Secret::new("k"))]),
            allowed_callback_hosts: hosts.map(|h| h.into_iter().map(String::from).collect()),
            store_outputs: true,
        }
    }

    #[test]
    fn may_use_providers_in_routes_or_upstream_keys() {
        let t = tenant(None);
        assert!(t.may_use("makevid"));
        assert!(t.may_use("runway"));
        assert!(!t.may_use("comet-official"));
    }

    #[test]
    fn no_host_list_allows_any_callback_host() {
        assert!(tenant(None).callback_host_allowed("anything.example"));
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let t = tenant(Some(vec!["*.example.com", "hooks.internal"]));
        assert!(t.callback_host_allowed("a.example.com"));
        assert!(t.callback_host_allowed("a.b.Example.COM."));
        assert!(!t.callback_host_allowed("example.com"));
        assert!(!t.callback_host_allowed("badexample.com"));
        assert!(!t.callback_host_allowed(".example.com"));
        assert!(t.callback_host_allowed("HOOKS.internal"));
        assert!(!t.callback_host_allowed("x.hooks.internal"));
    }

    #[test]
    fn an_empty_host_list_allows_nothing() {
        assert!(!tenant(Some(vec![])).callback_host_allowed("a.example.com"));
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = ServerConfig::default();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.admin_listen.to_string(), "127.0.0.1:9090");
        assert_eq!(s.max_body_bytes, 1_048_576);
        assert_eq!(
            TaskTimings::default().give_up_after,
            Duration::from_secs(7200)
        );
        assert_eq!(
            TaskTimings::default().max_queued_for,
            Duration::from_secs(3600)
        );
    }
}
