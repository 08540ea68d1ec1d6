//! What every handler shares: the swappable config snapshot, the store, and the
//! single-flight table of refreshes.

use std::sync::Arc;

use arc_swap::ArcSwap;
use taskgate_store::TaskStore;

use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::tasks::refresh::{Refreshed, StoreFailure};
use crate::tasks::singleflight::SingleFlight;
use crate::traffic::budget::Budgets;
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
    /// Tenant request budgets.
    pub tenant_budgets: Arc<Budgets>,
    /// Creates in flight per tenant, counted with the stored unfinished tasks against
    /// `max_unfinished_tasks`.
    pub creating: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// The Prometheus registry (`GET /metrics`).
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(runtime: Arc<ArcSwap<Runtime>>, store: Arc<dyn TaskStore>) -> AppState {
        AppState {
            inner: Arc::new(Shared {
                runtime,
                store,
                refreshes: SingleFlight::default(),
                guards: Guards::default(),
                tenant_budgets: Arc::new(Budgets::default()),
                creating: std::sync::Mutex::new(std::collections::HashMap::new()),
                metrics: Arc::new(Metrics::new()),
            }),
        }
    }
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
