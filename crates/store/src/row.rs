//! Rows of the SQL engines and the store's types, both ways. Both engines store the same
//! columns with the same types, so one mapping serves SQLite and PostgreSQL alike.

use sqlx::query::Query;
use sqlx::{Database, Encode, Type};
use taskgate_core::Task;

use crate::timestamp::{from_nanos, to_nanos};
use crate::{Delivery, StoreError, TaskRecord};

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
        Ok(TaskRecord {
            tenant: self.tenant,
            task,
            version: self.version,
            callback_url: self.callback_url,
            refreshed_at: self.refreshed_at.map(from_nanos),
            next_check_at: self.next_check_at.map(from_nanos),
            lease_owner: self.lease_owner,
            lease_until: self.lease_until.map(from_nanos),
        })
    }
}

/// Everything a write stores for a record, bound as parameters 1 to 12 in this order:
/// status, created_at, updated_at, next_check_at, lease_owner, lease_until, refreshed_at,
/// callback_url, body, id, tenant, version.
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
    provider: String,
    provider_task_id: Option<String>,
}

impl TaskColumns {
    pub(crate) fn of(record: &TaskRecord) -> Result<TaskColumns, StoreError> {
        let task = &record.task;
        let body = serde_json::to_string(task)
            .map_err(|e| StoreError::Corrupt(format!("task {}: not serializable: {e}", task.id)))?;
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
            provider: task.provider.clone(),
            provider_task_id: task.provider_task_id.clone(),
        })
    }

    pub(crate) fn bind<'q, DB>(
        self,
        query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    ) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
    where
        DB: Database,
        &'static str: Encode<'q, DB> + Type<DB>,
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
        }
    }
}
