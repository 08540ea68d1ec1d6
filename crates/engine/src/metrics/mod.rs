//! The gateway's Prometheus metrics: one registry, created once and shared through
//! `AppState`. Every label is a low-cardinality word (a tenant or provider name from the
//! config, a route template, an outcome); never a raw path, message or id.
//!
//! Recording is cheap and lock-free per series; `GET /metrics` on the admin listener
//! refreshes the scrape-time gauges and encodes everything (see [`scrape`]).

pub mod scrape;

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Seconds; from a fast cached read to a slow upstream create.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Seconds waited in the gateway's queue: from a free slot at once to the default
/// `tasks.max_queued_for` of an hour.
const QUEUE_WAIT_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    tenant: String,
    route: String,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    provider: String,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamTimingLabels {
    provider: String,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    tenant: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TaskLabels {
    pub provider: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantLabels {
    pub tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplicaLabels {
    replica: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ProviderLabels {
    pub provider: String,
}

/// Which limit refused a request (`taskgate_rate_limited_total{kind}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// A tenant or provider rate budget (`429 rate_limited`).
    Rate,
    /// The tenant's cap on unfinished tasks (`429 concurrency_limited`).
    Concurrency,
}

impl LimitKind {
    fn as_str(self) -> &'static str {
        match self {
            LimitKind::Rate => "rate",
            LimitKind::Concurrency => "concurrency",
        }
    }
}

/// Every metric family the gateway exports.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    upstream_calls: Family<UpstreamLabels, Counter>,
    upstream_duration: Histograms<UpstreamTimingLabels>,
    rate_limited: Family<LimitLabels, Counter>,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
    output_copies: Family<OutcomeLabels, Counter>,
    output_copy_bytes: Counter,
    output_copy_seconds: Histogram,
    pub(crate) tasks: Family<TaskLabels, Gauge>,
    pub(crate) circuit_state: Family<ProviderLabels, Gauge>,
    pub(crate) queue_depth: Family<TenantLabels, Gauge>,
    pub(crate) provider_in_flight: Family<ProviderLabels, Gauge>,
    queue_wait: Histogram,
    redis_up: Family<ReplicaLabels, Gauge>,
    replicas_seen: Family<ReplicaLabels, Gauge>,
    /// Scrapes refresh the gauges then encode; one at a time, so none sees half of another.
    pub scrape_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// `2xx`, `4xx`, ... for a status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let http_requests = Family::default();
        let http_duration: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        let upstream_calls = Family::default();
        let upstream_duration: Histograms<UpstreamTimingLabels> =
            Family::new_with_constructor(latency_histogram);
        let rate_limited = Family::default();
        let webhook_deliveries = Family::default();
        let output_copies = Family::default();
        let output_copy_bytes = Counter::default();
        let output_copy_seconds = Histogram::new(QUEUE_WAIT_BUCKETS);
        let tasks = Family::default();
        let circuit_state = Family::default();
        let queue_depth = Family::default();
        let provider_in_flight = Family::default();
        let queue_wait = Histogram::new(QUEUE_WAIT_BUCKETS);
        let redis_up = Family::default();
        let replicas_seen = Family::default();
        // Counter names omit `_total`: the encoder appends it.
        registry.register(
            "taskgate_http_requests",
            "Requests answered, by tenant (empty when unauthenticated), route template and status class",
            http_requests.clone(),
        );
        registry.register(
            "taskgate_http_request_duration_seconds",
            "Time to the response head, by route template",
            http_duration.clone(),
        );
        registry.register(
            "taskgate_upstream_calls",
            "Calls to providers (each attempt), by provider, operation and outcome",
            upstream_calls.clone(),
        );
        registry.register(
            "taskgate_upstream_call_duration_seconds",
            "Duration of calls that went out to a provider, by provider and operation",
            upstream_duration.clone(),
        );
        registry.register(
            "taskgate_rate_limited",
            "Requests refused by a limit, by tenant and kind (rate or concurrency)",
            rate_limited.clone(),
        );
        registry.register(
            "taskgate_webhook_deliveries",
            "Webhook delivery attempts, by outcome",
            webhook_deliveries.clone(),
        );
        registry.register(
            "taskgate_output_copies",
            "Output copies into the gateway's storage, by outcome (stored, retry, failed)",
            output_copies.clone(),
        );
        registry.register(
            "taskgate_output_copy_bytes",
            "Bytes of outputs stored in the gateway's storage",
            output_copy_bytes.clone(),
        );
        registry.register(
            "taskgate_output_copy_seconds",
            "How long one output copy took, whatever its outcome",
            output_copy_seconds.clone(),
        );
        registry.register(
            "taskgate_tasks",
            "Unfinished tasks in the store, by provider and status (at scrape time)",
            tasks.clone(),
        );
        registry.register(
            "taskgate_circuit_state",
            "Circuit breaker per provider: 0 closed, 1 half-open, 2 open",
            circuit_state.clone(),
        );
        registry.register(
            "taskgate_queue_depth",
            "Tasks waiting in the gateway's queue, by tenant (at scrape time)",
            queue_depth.clone(),
        );
        registry.register(
            "taskgate_queue_wait_seconds",
            "Time from create to a provider accepting the task (the wait in the gateway's queue)",
            queue_wait.clone(),
        );
        registry.register(
            "taskgate_provider_in_flight",
            "Unfinished tasks holding a slot at each provider, all replicas (at scrape time)",
            provider_in_flight.clone(),
        );
        registry.register(
            "taskgate_cluster_redis_up",
            "With cluster.redis_url: 1 while Redis answers (global limits), 0 while limits are local shares",
            redis_up.clone(),
        );
        registry.register(
            "taskgate_cluster_replicas_seen",
            "With cluster.redis_url: replicas that heartbeated lately (the last known count while Redis is down)",
            replicas_seen.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            upstream_calls,
            upstream_duration,
            rate_limited,
            webhook_deliveries,
            output_copies,
            output_copy_bytes,
            output_copy_seconds,
            tasks,
            circuit_state,
            queue_depth,
            provider_in_flight,
            queue_wait,
            redis_up,
            replicas_seen,
            scrape_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// One answered request. `route` is the matched route template.
    pub fn http_request(&self, tenant: &str, route: &str, status: u16, latency: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                tenant: tenant.to_string(),
                route: route.to_string(),
                status_class: status_class(status),
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(latency.as_secs_f64());
    }

    /// One attempt of a call to a provider. `latency` is `None` for a call that never went
    /// out (circuit open, budget spent): it is counted, not timed.
    pub fn upstream_call(
        &self,
        provider: &str,
        operation: &'static str,
        outcome: &'static str,
        latency: Option<Duration>,
    ) {
        self.upstream_calls
            .get_or_create(&UpstreamLabels {
                provider: provider.to_string(),
                operation,
                outcome,
            })
            .inc();
        if let Some(latency) = latency {
            self.upstream_duration
                .get_or_create(&UpstreamTimingLabels {
                    provider: provider.to_string(),
                    operation,
                })
                .observe(latency.as_secs_f64());
        }
    }

    /// A request of `tenant` refused by a limit.
    pub fn rate_limited(&self, tenant: &str, kind: LimitKind) {
        self.rate_limited
            .get_or_create(&LimitLabels {
                tenant: tenant.to_string(),
                kind: kind.as_str(),
            })
            .inc();
    }

    /// One webhook delivery attempt; `outcome` is a low-cardinality word: `delivered`,
    /// `retry`, `failed` or `refused` (never a URL or a message).
    /// A task left the gateway's queue for a provider after `waited` since its create.
    pub fn queue_wait(&self, waited: Duration) {
        self.queue_wait.observe(waited.as_secs_f64());
    }

    /// One output copy attempt: `stored` (with its bytes), `retry` or `failed`, and how
    /// long it took.
    pub fn output_copied(&self, outcome: &str, bytes: u64, took: Duration) {
        self.output_copy_bytes.inc_by(bytes);
        self.output_copy_seconds.observe(took.as_secs_f64());
        self.output_copy(outcome);
    }

    fn output_copy(&self, outcome: &str) {
        self.output_copies
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn webhook_delivery(&self, outcome: &str) {
        self.webhook_deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Whether this replica's Redis answers (only with a cluster).
    pub fn cluster_redis_up(&self, replica: &str, up: bool) {
        self.redis_up
            .get_or_create(&ReplicaLabels {
                replica: replica.to_string(),
            })
            .set(i64::from(up));
    }

    /// Replicas seen by this replica's heartbeat (only with a cluster).
    pub fn cluster_replicas_seen(&self, replica: &str, seen: u32) {
        self.replicas_seen
            .get_or_create(&ReplicaLabels {
                replica: replica.to_string(),
            })
            .set(i64::from(seen));
    }

    /// The whole registry in the OpenMetrics text format (which Prometheus scrapes).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_families_with_their_labels() {
        let m = Metrics::new();
        m.http_request("acme", "/v1/tasks/{id}", 200, Duration::from_millis(3));
        m.upstream_call("makevid", "poll", "ok", Some(Duration::from_millis(20)));
        m.upstream_call("makevid", "create", "circuit_open", None);
        m.rate_limited("acme", LimitKind::Concurrency);
        m.webhook_delivery("delivered");
        let text = m.encode().unwrap();
        for expected in [
            r#"taskgate_http_requests_total{tenant="acme",route="/v1/tasks/{id}",status_class="2xx"} 1"#,
            r#"taskgate_http_request_duration_seconds_bucket{le="0.005",route="/v1/tasks/{id}"} 1"#,
            r#"taskgate_upstream_calls_total{provider="makevid",operation="create",outcome="circuit_open"} 1"#,
            r#"taskgate_upstream_call_duration_seconds_count{provider="makevid",operation="poll"} 1"#,
            r#"taskgate_rate_limited_total{tenant="acme",kind="concurrency"} 1"#,
            r#"taskgate_webhook_deliveries_total{outcome="delivered"} 1"#,
            "# EOF",
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
        assert!(
            !text.contains(
                r#"taskgate_upstream_call_duration_seconds_count{provider="makevid",operation="create"}"#
            ),
            "calls that never went out are not timed"
        );
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(504), "5xx");
    }
}
