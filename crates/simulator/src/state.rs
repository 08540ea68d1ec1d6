//! The simulator's shared state: tasks, counters, the fault queue and the scenario.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::uri::Authority;
use axum::http::{header, HeaderMap};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::faults::{FaultKind, FaultRule, SharedFaults};
use crate::lifecycle::Ending;
use crate::provider::{Op, Provider};
use crate::script::{Outcome, Script};
use crate::task::{Task, TaskRecord};

/// How a simulator starts.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// `None`: any non-empty bearer key is accepted. `Some`: only these keys.
    pub accepted_keys: Option<HashSet<String>>,
    /// The scenario in force at start and after a reset.
    pub scenario: Script,
}

/// Counters per provider (wire names as keys, every provider present).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Tasks created (a create refused by a fault is not counted here).
    pub creates: BTreeMap<String, u64>,
    /// Poll requests that passed authentication.
    pub polls: BTreeMap<String, u64>,
    /// Cancel requests that passed authentication.
    pub cancels: BTreeMap<String, u64>,
    /// Requests refused: bad key, bad input, an injected status or malformed answer.
    pub rejected: BTreeMap<String, u64>,
    /// GETs of a task's output or preview files (`/_sim/out/...`), whatever the answer,
    /// by the task's provider; GETs naming no file of a known task are not counted.
    #[serde(default)]
    pub output_gets: BTreeMap<String, u64>,
}

impl Stats {
    /// Tasks created over all providers.
    pub fn creates_total(&self) -> u64 {
        self.creates.values().sum()
    }

    /// Polls over all providers.
    pub fn polls_total(&self) -> u64 {
        self.polls.values().sum()
    }

    /// Cancels over all providers.
    pub fn cancels_total(&self) -> u64 {
        self.cancels.values().sum()
    }

    /// Rejected requests over all providers.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Output file GETs over all providers.
    pub fn output_gets_total(&self) -> u64 {
        self.output_gets.values().sum()
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Creates,
    Polls,
    Cancels,
    Rejected,
    OutputGets,
}

#[derive(Default)]
struct Counters {
    cells: [[AtomicU64; 4]; 5],
}

impl Counters {
    fn add(&self, counter: Counter, provider: Provider) {
        if let Some(cell) = self
            .cells
            .get(counter as usize)
            .and_then(|row| row.get(provider.index()))
        {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn map(&self, counter: Counter) -> BTreeMap<String, u64> {
        let row = self.cells.get(counter as usize);
        Provider::ALL
            .into_iter()
            .map(|p| {
                let n = row
                    .and_then(|r| r.get(p.index()))
                    .map_or(0, |c| c.load(Ordering::Relaxed));
                (p.as_str().to_owned(), n)
            })
            .collect()
    }

    fn clear(&self) {
        for cell in self.cells.iter().flatten() {
            cell.store(0, Ordering::Relaxed);
        }
    }
}

const SHARDS: usize = 64;

/// The task table, sharded so that polls of different tasks rarely meet on a lock.
struct TaskStore {
    shards: Vec<RwLock<HashMap<String, Arc<Task>>>>,
}

impl TaskStore {
    fn new() -> TaskStore {
        TaskStore {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }

    fn shard(&self, id: &str) -> &RwLock<HashMap<String, Arc<Task>>> {
        let h = id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.shards[h % self.shards.len()]
    }

    fn insert(&self, task: Arc<Task>) {
        let mut shard = self
            .shard(&task.id)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        shard.insert(task.id.clone(), task);
    }

    fn get(&self, id: &str) -> Option<Arc<Task>> {
        let shard = self.shard(id).read().unwrap_or_else(|e| e.into_inner());
        shard.get(id).cloned()
    }

    /// Every task, oldest first.
    fn all(&self) -> Vec<Arc<Task>> {
        let mut all: Vec<Arc<Task>> = self
            .shards
            .iter()
            .flat_map(|s| {
                let shard = s.read().unwrap_or_else(|e| e.into_inner());
                shard.values().cloned().collect::<Vec<_>>()
            })
            .collect();
        all.sort_by_key(|t| t.born);
        all
    }

    fn clear(&self) {
        for shard in &self.shards {
            shard.write().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

struct Inner {
    config: SimConfig,
    /// Where output URLs point; `None`: at the `Host` of each create request.
    base_url: Option<Arc<str>>,
    scenario: RwLock<Arc<Script>>,
    tasks: TaskStore,
    counters: Counters,
    faults: SharedFaults,
    shutdown: watch::Sender<bool>,
    /// Bumped by each release of held requests.
    releases: watch::Sender<u64>,
    /// Requests waiting in a `hold` fault now.
    held: AtomicUsize,
}

/// A handle on one simulator's state; cheap to clone. Serve it with [`crate::router`].
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Inner>,
}

impl SimState {
    /// A fresh simulator with no tasks that does not know its own address: a task's output
    /// URLs are written under `http://{Host}` of the request that created it (or
    /// `http://localhost` without a valid `Host`). For serving [`crate::router`] yourself;
    /// [`crate::SimServer`] uses [`SimState::with_base_url`].
    pub fn new(config: SimConfig) -> SimState {
        SimState::build(config, None)
    }

    /// A fresh simulator with no tasks, reachable at `base_url` (scheme and authority, e.g.
    /// `http://127.0.0.1:8090`; a trailing `/` is dropped): every task's output URLs are
    /// `{base_url}/_sim/out/{id}.{ext}` and `{base_url}/_sim/out/{id}/{n}.jpg`.
    pub fn with_base_url(config: SimConfig, base_url: impl Into<String>) -> SimState {
        let base: String = base_url.into();
        SimState::build(config, Some(Arc::from(base.trim_end_matches('/'))))
    }

    fn build(config: SimConfig, base_url: Option<Arc<str>>) -> SimState {
        let scenario = RwLock::new(Arc::new(config.scenario.clone()));
        SimState {
            inner: Arc::new(Inner {
                config,
                base_url,
                scenario,
                tasks: TaskStore::new(),
                counters: Counters::default(),
                faults: SharedFaults::default(),
                shutdown: watch::Sender::new(false),
                releases: watch::Sender::new(0),
                held: AtomicUsize::new(0),
            }),
        }
    }

    /// The base URL given at construction, if any.
    pub fn base_url(&self) -> Option<&str> {
        self.inner.base_url.as_deref()
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            creates: c.map(Counter::Creates),
            polls: c.map(Counter::Polls),
            cancels: c.map(Counter::Cancels),
            rejected: c.map(Counter::Rejected),
            output_gets: c.map(Counter::OutputGets),
        }
    }

    /// What was recorded about a task, by the id the provider gave out.
    pub fn task(&self, provider_task_id: &str) -> Option<TaskRecord> {
        self.inner.tasks.get(provider_task_id).map(|t| t.record())
    }

    /// Every task with its provider task id, oldest first (e.g. to find a task whose
    /// create answer the client never saw).
    pub fn tasks(&self) -> Vec<(String, TaskRecord)> {
        self.inner
            .tasks
            .all()
            .into_iter()
            .map(|t| (t.id.clone(), t.record()))
            .collect()
    }

    /// The most tasks unfinished at once so far, of `provider` (a wire name) or of all:
    /// [`crate::max_unfinished_at_once`] over [`SimState::tasks`].
    pub fn max_unfinished_at_once(&self, provider: Option<&str>) -> usize {
        let records: Vec<TaskRecord> = self.tasks().into_iter().map(|(_, r)| r).collect();
        crate::max_unfinished_at_once(&records, provider)
    }

    /// The default script of tasks created from now on without a `sim` object.
    pub fn scenario(&self) -> Script {
        Script::clone(&self.script())
    }

    /// Replaces the default script for tasks created from now on.
    pub fn set_scenario(&self, script: Script) {
        *self
            .inner
            .scenario
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(script);
    }

    /// Adds a rule at the end of the global fault queue.
    pub fn push_fault(&self, rule: FaultRule) {
        self.inner.faults.push(rule);
    }

    /// Forgets tasks, faults and counters and restores the starting scenario.
    pub fn reset(&self) {
        self.inner.tasks.clear();
        self.inner.faults.clear();
        self.inner.counters.clear();
        self.set_scenario(self.inner.config.scenario.clone());
    }

    /// Ends a task now with this outcome. False if the id is unknown or already ended.
    pub fn finish(&self, provider_task_id: &str, outcome: Outcome) -> bool {
        self.inner
            .tasks
            .get(provider_task_id)
            .is_some_and(|t| t.end(Ending::Finished(outcome)))
    }

    /// Requests held by a `hold` fault right now (one whose client hung up is not).
    pub fn held(&self) -> usize {
        self.inner.held.load(Ordering::Acquire)
    }

    /// Lets every held request go on and drops the global `hold` rules, so nothing is held
    /// from now on unless a new rule says so (a task's own rules stay until used up).
    /// Returns how many were held.
    pub fn release_holds(&self) -> usize {
        self.inner.faults.drop_holds();
        let held = self.held();
        self.inner.releases.send_modify(|n| *n += 1);
        held
    }

    /// How many releases there have been.
    pub(crate) fn releases(&self) -> u64 {
        *self.inner.releases.borrow()
    }

    /// Waits in a `hold` until a release after the `before`-th ([`SimState::releases`] read
    /// before the hold rule was taken): true, or until the server stops: false.
    pub(crate) async fn hold(&self, before: u64) -> bool {
        struct Held<'a>(&'a AtomicUsize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let mut releases = self.inner.releases.subscribe();
        self.inner.held.fetch_add(1, Ordering::AcqRel);
        // Counted until released, or until hyper drops this request because its client left.
        let _held = Held(&self.inner.held);
        tokio::select! {
            released = releases.wait_for(|n| *n != before) => released.is_ok(),
            () = self.stopped() => false,
        }
    }

    /// Releases every hung request; called when the server stops.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    pub(crate) fn accepts_key(&self, key: &str) -> bool {
        match &self.inner.config.accepted_keys {
            None => !key.is_empty(),
            Some(keys) => keys.contains(key),
        }
    }

    pub(crate) fn script(&self) -> Arc<Script> {
        Arc::clone(
            &self
                .inner
                .scenario
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    pub(crate) fn count(&self, counter: Counter, provider: Provider) {
        self.inner.counters.add(counter, provider);
    }

    /// Where the output URLs of a task created by a request with these headers point.
    pub(crate) fn output_base(&self, headers: &HeaderMap) -> Arc<str> {
        if let Some(base) = &self.inner.base_url {
            return Arc::clone(base);
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Authority>().ok());
        match host {
            Some(host) => Arc::from(format!("http://{host}")),
            None => Arc::from("http://localhost"),
        }
    }

    pub(crate) fn insert(&self, task: Arc<Task>) {
        self.inner.tasks.insert(task);
    }

    /// A task of any provider.
    pub(crate) fn lookup_any(&self, id: &str) -> Option<Arc<Task>> {
        self.inner.tasks.get(id)
    }

    /// A task of this provider; another provider's id is unknown here.
    pub(crate) fn lookup(&self, provider: Provider, id: &str) -> Option<Arc<Task>> {
        self.inner.tasks.get(id).filter(|t| t.provider == provider)
    }

    /// The fault for this request: the task's own rules first, then the global queue.
    pub(crate) fn take_fault(
        &self,
        provider: Provider,
        op: Op,
        task: Option<&Task>,
    ) -> Option<FaultKind> {
        task.and_then(|t| t.take_fault(op))
            .or_else(|| self.inner.faults.take(provider, op))
    }

    /// Resolves once [`SimState::shutdown`] has been called.
    pub async fn stopped(&self) {
        let mut stop = self.inner.shutdown.subscribe();
        // An error means the sender is gone, which cannot outlive `self`; stop anyway.
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    /// Waits about an hour, or until the server stops.
    pub(crate) async fn hang(&self) {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            () = self.stopped() => {}
        }
    }
}
