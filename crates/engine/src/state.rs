//! What every handler shares: the swappable config snapshot, the store, and the
//! single-flight table of refreshes.

use std::sync::Arc;

use arc_swap::ArcSwap;
use taskgate_store::TaskStore;

use crate::cluster::Cluster;
use crate::lifecycle::events::TaskEvents;
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::tasks::refresh::{Refreshed, StoreFailure};
use crate::tasks::singleflight::SingleFlight;
use crate::traffic::gate::RateGate;
use crate::traffic::guard::Guards;
use crate::traffic::upstream::Upstream;

pub type RefreshResult = Result<Refreshed, StoreFailure>;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

pub struct Shared {
    pub runtime: Arc<ArcSwap<Runtime>>,
    pub store: Arc<dyn TaskStore>,
    pub refreshes: SingleFlight<RefreshResult>,
    /// Provider budgets and circuits.
    pub guards: Guards,
    /// Where tenant and provider rate budgets are spent (global with a cluster).
    pub gate: RateGate,
    /// The cluster's Redis, when `cluster` is configured.
    pub cluster: Option<Arc<Cluster>>,
    /// Creates in flight per tenant, counted with the stored unfinished tasks against
    /// `max_unfinished_tasks`.
    pub creating: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// Wakes long-polls and event streams.
    pub events: TaskEvents,
    /// Woken when a webhook is queued, so it goes out without waiting for the next tick.
    pub outbox_ready: tokio::sync::Notify,
    /// Woken when a provider slot may have freed, so the queue's dispatcher looks at once.
    pub queue_ready: tokio::sync::Notify,
    /// Providers resting after refusing a create for capacity.
    pub cooldowns: crate::queue::cooldown::Cooldowns,
    /// Background dispatches in flight (shutdown waits for them).
    pub dispatches: crate::queue::dispatcher::InFlight,
    /// How long tasks lately held a provider's slot (queue estimates).
    pub durations: crate::queue::durations::SlotDurations,
    /// This process's name on leases (watcher, outbox).
    pub replica_id: String,
    /// Webhook deliveries: no redirects, no proxy, refused addresses dropped at resolution.
    pub webhook_http: crate::lifecycle::webhook_http::WebhookHttp,
    pub webhook_attempts: crate::lifecycle::webhooks::AttemptCounts,
    /// JSON of finished tasks, ready to serve.
    pub finished: crate::tasks::finished_cache::FinishedCache,
    /// When this process last polled a task whose poll changed nothing (not written to
    /// the store: nothing to keep), so reads within `refresh_after` do not poll again.
    pub polled_at:
        std::sync::Mutex<std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>>,
    /// The Prometheus registry (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    /// What signed `/v1/files` URLs need.
    pub files: crate::outputs::present::FilesAccess,
    /// The client outputs are downloaded with: no overall timeout (files are large; the
    /// copy bounds each chunk), a few redirects (CDNs use them).
    pub outputs_http: reqwest::Client,
}

impl AppState {
    /// The state of one process. With `cluster` configured, prepares (without waiting for)
    /// the Redis connection; fails only on a Redis URL that cannot be used.
    pub fn new(
        runtime: Arc<ArcSwap<Runtime>>,
        store: Arc<dyn TaskStore>,
        webhook_http: crate::lifecycle::webhook_http::WebhookHttp,
        files: crate::outputs::present::FilesAccess,
    ) -> anyhow::Result<AppState> {
        let outputs_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()?;
        let cluster_config = runtime.load().config.cluster.clone();
        let replica_id = cluster_config
            .as_ref()
            .and_then(|c| c.replica_id.clone())
            .unwrap_or_else(default_replica_id);
        let metrics = Arc::new(Metrics::new());
        let cluster = match &cluster_config {
            Some(config) => Some(Arc::new(Cluster::new(
                config,
                &replica_id,
                metrics.clone(),
            )?)),
            None => None,
        };
        let gate = RateGate::new(cluster.clone());
        Ok(AppState {
            inner: Arc::new(Shared {
                runtime,
                store,
                refreshes: SingleFlight::default(),
                guards: Guards::new(gate.clone()),
                gate,
                cluster,
                creating: std::sync::Mutex::new(std::collections::HashMap::new()),
                events: TaskEvents::default(),
                outbox_ready: tokio::sync::Notify::new(),
                queue_ready: tokio::sync::Notify::new(),
                cooldowns: Default::default(),
                durations: Default::default(),
                dispatches: Default::default(),
                replica_id,
                webhook_http,
                webhook_attempts: Default::default(),
                finished: Default::default(),
                polled_at: Default::default(),
                metrics,
                files,
                outputs_http,
            }),
        })
    }
}

/// Host name and process id: unique enough among replicas, readable in the store.
fn default_replica_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "taskgate".into());
    format!("{host}-{}", std::process::id())
}

impl Shared {
    /// The named provider of `runtime`, guarded.
    pub fn upstream<'a>(&self, runtime: &'a Runtime, name: &'a str) -> Option<Upstream<'a>> {
        let provider = runtime.provider(name)?;
        let config = runtime.config.providers.get(name)?;
        Some(Upstream {
            name,
            provider,
            config,
            guard: self.guards.for_provider(name, config),
            metrics: self.metrics.clone(),
        })
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.inner
    }
}
