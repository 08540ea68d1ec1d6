//! What every handler shares: the swappable config snapshot, the store, and the
//! single-flight table of refreshes.

use std::sync::Arc;

use arc_swap::ArcSwap;
use taskgate_store::{TaskRecord, TaskStore};

use crate::runtime::Runtime;
use crate::tasks::refresh::StoreFailure;
use crate::tasks::singleflight::SingleFlight;

pub type RefreshResult = Result<TaskRecord, StoreFailure>;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

pub struct Shared {
    pub runtime: Arc<ArcSwap<Runtime>>,
    pub store: Arc<dyn TaskStore>,
    pub refreshes: SingleFlight<RefreshResult>,
}

impl AppState {
    pub fn new(runtime: Arc<ArcSwap<Runtime>>, store: Arc<dyn TaskStore>) -> AppState {
        AppState {
            inner: Arc::new(Shared {
                runtime,
                store,
                refreshes: SingleFlight::default(),
            }),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.inner
    }
}
