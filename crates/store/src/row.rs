//! Rows of the SQL engines and the store's types, both ways. Both engines store the same
//! columns with the same types, so one mapping serves SQLite and PostgreSQL alike.

use sqlx::query::Query;
use sqlx::{Database, Encode, Type};
use taskgate_core::{EventSet, Task};

use crate::queue::{candidates_text, QueueEntry, QueueState};
use crate::timestamp::{from_nanos, to_nanos};
use crate::{Delivery, StoreError, TaskRecord};

/// Writes a new task; binds [`TaskColumns`] in order.
pub(crate) const INSERT_TASK: &str = "INSERT INTO tasks (status, created_at, updated_at, \
     next_check_at, lease_owner, lease_until, refreshed_at, callback_url, body, id, tenant, \
     version, provider, provider_task_id, queue_state, priority, queue_head, candidates, \
     input, dispatched_at, callback_events, progress_event_at, outputs_copy) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
     $18, $19, $20, $21, $22, $23)";

/// The compare-and-set update: binds [`TaskColumns`] in order; `$12` is the version the
/// caller read. Every column is written, the queue's included, so a plain update moves a
/// task between waiting, dispatching and dispatched. (PostgreSQL, READ COMMITTED: a
/// concurrent writer of the same row waits for the first to commit, then finds the version
/// changed and updates nothing.)
pub(crate) const UPDATE_TASK: &str = "UPDATE tasks SET status = $1, created_at = $2, \
     updated_at = $3, next_check_at = $4, lease_owner = $5, lease_until = $6, \
     refreshed_at = $7, callback_url = $8, body = $9, version = $12 + 1, \
     provider = $13, provider_task_id = $14, queue_state = $15, priority = $16, \
     queue_head = $17, candidates = $18, input = $19, dispatched_at = $20, \
     callback_events = $21, progress_event_at = $22, outputs_copy = $23 \
     WHERE id = $10 AND tenant = $11 AND version = $12";

/// What a record is read from: the columns of each engine's `task_columns!()`, in that order.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TaskRow {
    id: String,
    tenant: String,
    version: i64,
    callback_url: Option<String>,
    refreshed_at: Option<i64>,
    next_check_at: Option<i64>,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    body: String,
    /// The task's provider, or the one a dispatching task's create is in flight to.
    provider: Option<String>,
    queue_state: Option<String>,
    priority: i64,
    queue_head: i64,
    candidates: Option<String>,
    input: Option<String>,
    dispatched_at: Option<i64>,
    callback_events: i64,
    progress_event_at: Option<i64>,
    outputs_copy: Option<String>,
}

impl TaskRow {
    /// The task comes from `body`, the rest from the columns.
    pub(crate) fn into_record(self) -> Result<TaskRecord, StoreError> {
        let task: Task = serde_json::from_str(&self.body)
            .map_err(|e| StoreError::Corrupt(format!("task {}: body: {e}", self.id)))?;
        if task.id != self.id {
            return Err(StoreError::Corrupt(format!(
                "task {}: body holds task {}",
                self.id, task.id
            )));
        }
        let queue = self.queue_entry()?;
        let outputs_copy = match self.outputs_copy.as_deref() {
            None => None,
            Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                StoreError::Corrupt(format!("task {}: outputs_copy: {e}", self.id))
            })?),
        };
        Ok(TaskRecord {
            tenant: self.tenant,
            task,
            version: self.version,
            callback_url: self.callback_url,
            refreshed_at: self.refreshed_at.map(from_nanos),
            next_check_at: self.next_check_at.map(from_nanos),
            lease_owner: self.lease_owner,
            lease_until: self.lease_until.map(from_nanos),
            queue,
            dispatched_at: self.dispatched_at.map(from_nanos),
            callback_events: EventSet::from_bits(u8::try_from(self.callback_events).unwrap_or(0)),
            progress_event_at: self.progress_event_at.map(from_nanos),
            outputs_copy,
        })
    }

    /// The queue columns; they mean something only while `queue_state` is set.
    fn queue_entry(&self) -> Result<Option<QueueEntry>, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("task {}: {what}", self.id));
        let state = match self.queue_state.as_deref() {
            None => return Ok(None),
            Some("waiting") => QueueState::Waiting,
            Some("dispatching") => QueueState::Dispatching {
                provider: self
                    .provider
                    .clone()
                    .ok_or_else(|| corrupt("dispatching to no provider"))?,
            },
            Some(other) => return Err(corrupt(&format!("queue state {other:?}"))),
        };
        let priority =
            i32::try_from(self.priority).map_err(|_| corrupt("priority out of range"))?;
        let candidates = self
            .candidates
            .as_deref()
            .ok_or_else(|| corrupt("queued without candidates"))?;
        let candidates =
            serde_json::from_str(candidates).map_err(|e| corrupt(&format!("candidates: {e}")))?;
        let input = self
            .input
            .clone()
            .ok_or_else(|| corrupt("queued without input"))?;
        Ok(Some(QueueEntry {
            state,
            priority,
            candidates,
            head: self.queue_head != 0,
            input,
        }))
    }
}

/// Everything a write stores for a record, bound as parameters 1 to 23 in this order:
/// status, created_at, updated_at, next_check_at, lease_owner, lease_until, refreshed_at,
/// callback_url, body, id, tenant, version, provider, provider_task_id, queue_state,
/// priority, queue_head, candidates, input, dispatched_at, callback_events,
/// progress_event_at, outputs_copy ([`INSERT_TASK`],
/// [`UPDATE_TASK`]).
pub(crate) struct TaskColumns {
    status: &'static str,
    created_at: i64,
    updated_at: i64,
    next_check_at: Option<i64>,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    refreshed_at: Option<i64>,
    callback_url: Option<String>,
    body: String,
    id: String,
    tenant: String,
    version: i64,
    /// Who owns a provider task (the pass-through on a shared key looks tasks up by these).
    /// `provider` is also whose slot the task holds: [`TaskRecord::slot_provider`].
    provider: Option<String>,
    provider_task_id: Option<String>,
    /// NULL, or the queue's columns (see migration 0004).
    queue_state: Option<&'static str>,
    priority: i64,
    queue_head: i64,
    candidates: Option<String>,
    input: Option<String>,
    dispatched_at: Option<i64>,
    /// The chosen webhook events' bits ([`EventSet::bits`]).
    callback_events: i64,
    progress_event_at: Option<i64>,
    /// JSON of [`crate::OutputsCopy`], or NULL.
    outputs_copy: Option<String>,
}

impl TaskColumns {
    pub(crate) fn of(record: &TaskRecord) -> Result<TaskColumns, StoreError> {
        let task = &record.task;
        let queue = record.queue.as_ref();
        let body = serde_json::to_string(task)
            .map_err(|e| StoreError::Corrupt(format!("task {}: not serializable: {e}", task.id)))?;
        let outputs_copy = match &record.outputs_copy {
            None => None,
            Some(copy) => Some(serde_json::to_string(copy).map_err(|e| {
                StoreError::Corrupt(format!(
                    "task {}: outputs_copy not serializable: {e}",
                    task.id
                ))
            })?),
        };
        Ok(TaskColumns {
            status: task.status.as_str(),
            created_at: to_nanos(task.created_at),
            updated_at: to_nanos(task.updated_at),
            next_check_at: record.next_check_at.map(to_nanos),
            lease_owner: record.lease_owner.clone(),
            lease_until: record.lease_until.map(to_nanos),
            refreshed_at: record.refreshed_at.map(to_nanos),
            callback_url: record.callback_url.clone(),
            body,
            id: task.id.clone(),
            tenant: record.tenant.clone(),
            version: record.version,
            provider: record.slot_provider().map(str::to_owned),
            provider_task_id: task.provider_task_id.clone(),
            queue_state: queue.map(|q| q.state.as_str()),
            priority: queue.map_or(0, |q| i64::from(q.priority)),
            queue_head: queue.map_or(0, |q| i64::from(q.head)),
            candidates: queue.map(|q| candidates_text(&q.candidates)),
            input: queue.map(|q| q.input.clone()),
            dispatched_at: record.dispatched_at.map(to_nanos),
            callback_events: i64::from(record.callback_events.bits()),
            progress_event_at: record.progress_event_at.map(to_nanos),
            outputs_copy,
        })
    }

    pub(crate) fn bind<'q, DB>(
        self,
        query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    ) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
    where
        DB: Database,
        &'static str: Encode<'q, DB> + Type<DB>,
        Option<&'static str>: Encode<'q, DB> + Type<DB>,
        i64: Encode<'q, DB> + Type<DB>,
        Option<i64>: Encode<'q, DB> + Type<DB>,
        String: Encode<'q, DB> + Type<DB>,
        Option<String>: Encode<'q, DB> + Type<DB>,
    {
        query
            .bind(self.status)
            .bind(self.created_at)
            .bind(self.updated_at)
            .bind(self.next_check_at)
            .bind(self.lease_owner)
            .bind(self.lease_until)
            .bind(self.refreshed_at)
            .bind(self.callback_url)
            .bind(self.body)
            .bind(self.id)
            .bind(self.tenant)
            .bind(self.version)
            .bind(self.provider)
            .bind(self.provider_task_id)
            .bind(self.queue_state)
            .bind(self.priority)
            .bind(self.queue_head)
            .bind(self.candidates)
            .bind(self.input)
            .bind(self.dispatched_at)
            .bind(self.callback_events)
            .bind(self.progress_event_at)
            .bind(self.outputs_copy)
    }
}

/// A `deliveries` row, as each engine's claim returns it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: String,
    tenant: String,
    task_id: String,
    url: String,
    body: String,
    created_at: i64,
    attempts: i64,
    next_attempt_at: Option<i64>,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    event: String,
    seq: i64,
}

impl DeliveryRow {
    pub(crate) fn into_delivery(self) -> Delivery {
        Delivery {
            id: self.id,
            tenant: self.tenant,
            task_id: self.task_id,
            url: self.url,
            body: self.body,
            created_at: from_nanos(self.created_at),
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            next_attempt_at: from_nanos(self.next_attempt_at.unwrap_or(self.created_at)),
            lease_owner: self.lease_owner,
            lease_until: self.lease_until.map(from_nanos),
            event: self.event,
            seq: self.seq,
        }
    }
}
