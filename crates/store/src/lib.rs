//! taskgate-store: where tasks live: one trait, several engines. Every write that can race is a
//! compare-and-set on `version`, so no code here assumes it is the only replica.

// First: its macros (`task_columns!`, `unfinished!`, the statements that differ only in
// row locking, `sql_task_store!`) serve the engines declared below.
#[macro_use]
mod sql;

mod memory;
mod postgres;
pub mod queue;
mod row;
mod sqlite;
mod time;
mod timestamp;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use taskgate_core::{EventSet, Task, TaskStatus};

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use queue::{
    DispatchPolicy, Pick, QueueAhead, QueueEntry, QueueState, SlotLimit, WaitingCount,
};
pub use sqlite::SqliteStore;

/// A stored task with what the gateway needs besides the public view.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub tenant: String,
    pub task: Task,
    /// Bumped by every successful update; the compare-and-set token.
    pub version: i64,
    /// Where to POST the task when it ends (webhooks).
    pub callback_url: Option<String>,
    /// When the provider was last asked (successfully or not) about this task.
    pub refreshed_at: Option<DateTime<Utc>>,
    /// When the background watcher should look at this task next; `None` once finished.
    pub next_check_at: Option<DateTime<Utc>>,
    /// Which replica holds the watcher lease, and until when.
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// Its place in the gateway's queue, until a provider has it.
    pub queue: Option<QueueEntry>,
    /// When a provider accepted it (the end of its wait in the gateway's queue).
    pub dispatched_at: Option<DateTime<Utc>>,
    /// The events `callback_url` receives.
    pub callback_events: EventSet,
    /// When the last `task.progress` (or `task.started`) was queued: the progress throttle.
    pub progress_event_at: Option<DateTime<Utc>>,
    /// The provider finished it and its outputs are being copied into the gateway's
    /// storage; the stored task stays `running` until then.
    pub outputs_copy: Option<OutputsCopy>,
}

/// A succeeded task held back while its outputs are copied (durable outputs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputsCopy {
    /// The task as the provider finished it; each output gains its stored copy's details
    /// (`stored`, `sha256`, ...) as the copy lands, so a later round skips it.
    pub finished: Task,
    /// Copy rounds that ended in a failure worth retrying.
    pub attempts: u32,
}

impl TaskRecord {
    pub fn new(tenant: String, task: Task, callback_url: Option<String>) -> TaskRecord {
        let next_check_at = (!task.is_terminal()).then_some(task.created_at);
        TaskRecord {
            tenant,
            task,
            version: 1,
            callback_url,
            refreshed_at: None,
            next_check_at,
            lease_owner: None,
            lease_until: None,
            queue: None,
            dispatched_at: None,
            callback_events: EventSet::default(),
            progress_event_at: None,
            outputs_copy: None,
        }
    }

    /// The provider holding (or about to hold) one of its slots for this task: the task's
    /// provider, or the one its create is in flight to.
    pub fn slot_provider(&self) -> Option<&str> {
        match &self.queue {
            Some(QueueEntry {
                state: QueueState::Dispatching { provider },
                ..
            }) => Some(provider),
            Some(_) => None,
            None => self.task.provider.as_deref(),
        }
    }
}

/// A page request of a tenant's tasks, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub status: Option<TaskStatus>,
    pub limit: usize,
    /// Only tasks strictly older than this position (from the previous page's last task).
    pub after: Option<Cursor>,
}

/// A position in a tenant's task list: tasks sort by `(created_at, id)` descending.
/// `created_at` compares at full (nanosecond) precision, so a cursor must carry the task's
/// `created_at` unrounded (RFC 3339 with `SecondsFormat::AutoSi` or `Nanos` keeps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

/// What an idempotency key is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyEntry {
    /// SHA-256 hex of the canonical request body.
    pub request_hash: String,
    /// `None` while the first request with this key is still creating its task.
    pub task_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The result of reserving an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key was free and is now ours.
    Reserved,
    /// Someone holds it already (unexpired).
    Existing(IdempotencyEntry),
}

/// How many unfinished tasks one provider has in one status (for the metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    pub provider: String,
    pub status: TaskStatus,
    pub count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a task with this id exists already")]
    Duplicate,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

/// One webhook delivery in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The `webhook-id`: the same on every attempt.
    pub id: String,
    pub tenant: String,
    pub task_id: String,
    pub url: String,
    /// The exact JSON body every attempt sends.
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// The event's name (`task.succeeded`, …), as in the body's `type`.
    pub event: String,
    /// Its order among its task's deliveries: one is sent only when no earlier one of the
    /// same task is pending, so a receiver sees a task's events in order.
    pub seq: i64,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Stop trying (gave up after the retry period).
    Failed {
        error: String,
    },
}

/// The task store. Implementations: memory (tests), SQLite (embedded default),
/// PostgreSQL (several replicas).
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Writes a new task. `Duplicate` if the id is taken.
    async fn insert(&self, record: &TaskRecord) -> Result<(), StoreError>;

    /// The tenant's task, or `None` (another tenant's task is `None` too).
    async fn get(&self, tenant: &str, id: &str) -> Result<Option<TaskRecord>, StoreError>;

    /// Compare-and-set: writes `record` only if the stored version is still
    /// `record.version`, and then stores it with `version + 1`. Returns the new version,
    /// or `None` when someone else updated it first (re-read and decide again).
    async fn update(&self, record: &TaskRecord) -> Result<Option<i64>, StoreError>;

    /// A page of the tenant's tasks, newest first; at most `query.limit` items.
    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<Vec<TaskRecord>, StoreError>;

    /// How many of the tenant's tasks are not finished.
    async fn count_unfinished(&self, tenant: &str) -> Result<u64, StoreError>;

    /// Binds `key` to `request_hash` unless an unexpired binding exists (entries older
    /// than `ttl` count as absent and are replaced).
    async fn reserve_idempotency(
        &self,
        tenant: &str,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Reservation, StoreError>;

    /// Records the task created under a reserved key.
    async fn complete_idempotency(
        &self,
        tenant: &str,
        key: &str,
        task_id: &str,
    ) -> Result<(), StoreError>;

    /// Frees a reserved key whose create failed, so the client may try again.
    async fn release_idempotency(&self, tenant: &str, key: &str) -> Result<(), StoreError>;

    /// Claims up to `limit` unfinished tasks whose `next_check_at` is due and whose lease is
    /// free or expired, leasing them to `owner` until `now + lease`. Each returned record
    /// carries the new lease and version.
    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError>;

    /// Like [`TaskStore::update`], and in the same transaction queues `deliveries` (the
    /// webhook events of this change): a task with a callback never loses an event.
    async fn update_with_deliveries(
        &self,
        record: &TaskRecord,
        deliveries: &[Delivery],
    ) -> Result<Option<i64>, StoreError>;

    /// Claims up to `limit` pending deliveries that are due and not leased (or whose lease
    /// expired), leasing them to `owner` until `now + lease`. A delivery is claimed only
    /// when no delivery of the same task with a lower `seq` is pending.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Records an attempt's outcome (counts the attempt, frees the lease). With
    /// `hold_progress_until` on a finished delivery, the task's later `task.progress`
    /// deliveries, queued already or not, are not sent before that time (the progress
    /// throttle, measured from this one's end).
    async fn finish_delivery(
        &self,
        delivery: &Delivery,
        outcome: &DeliveryOutcome,
        hold_progress_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Records that `tenant` created the provider's task `provider_task_id` through the
    /// pass-through. The first tenant to record an id keeps it.
    async fn record_passthrough_task(
        &self,
        provider: &str,
        provider_task_id: &str,
        tenant: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Whether the provider's task `provider_task_id` at `provider` is `tenant`'s: the
    /// provider task of one of its tasks, or one it created through the pass-through.
    async fn owns_provider_task(
        &self,
        tenant: &str,
        provider: &str,
        provider_task_id: &str,
    ) -> Result<bool, StoreError>;

    /// Claims waiting tasks of the gateway's queue for dispatch, in one transaction no other
    /// claim interleaves with: each gets a slot at the first of its candidates with one free
    /// under `policy` (never more unfinished tasks at a provider than its `Max`, counting
    /// every replica's), state `Dispatching`, and a lease to `owner` until `now + lease`
    /// (`next_check_at` = the lease's end, so a watcher finds it if the owner dies). See
    /// [`Pick`] for the order. Each returned record carries the new version.
    async fn claim_dispatch(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        policy: &DispatchPolicy,
        pick: Pick<'_>,
    ) -> Result<Vec<TaskRecord>, StoreError>;

    /// What is ahead of a queued task (see [`QueueAhead`]).
    async fn queue_ahead(&self, record: &TaskRecord) -> Result<QueueAhead, StoreError>;

    /// Waiting tasks by tenant and candidate list: one tenant's, or everyone's.
    async fn count_waiting(&self, tenant: Option<&str>) -> Result<Vec<WaitingCount>, StoreError>;

    /// Deletes a task whose create failed before any provider took it, if it is still at
    /// `version`. Whether it did.
    async fn discard(&self, tenant: &str, id: &str, version: i64) -> Result<bool, StoreError>;

    /// Checks the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Moves the lease `owner` holds on the task to `until`, leaving its version alone (the
    /// lease is not part of the task). False when `owner` no longer holds it.
    async fn extend_lease(
        &self,
        tenant: &str,
        id: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The secret called `name` that every replica shares: `candidate` if none was kept
    /// yet (the first caller's candidate wins), else the kept one.
    async fn shared_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError>;

    /// Unfinished tasks by provider and status, for the metrics. An engine that cannot
    /// count them cheaply answers an empty list.
    async fn count_unfinished_by_provider(&self) -> Result<Vec<StatusCount>, StoreError> {
        Ok(Vec::new())
    }

    /// Lets in-flight queries finish and closes connections (graceful shutdown). Nothing to
    /// do for engines without connections.
    async fn close(&self) {}
}
