//! The SQLite engine: the embedded default. One writer connection (SQLite serializes writes
//! anyway) and a few readers over WAL; every commit is fsynced (`synchronous=FULL`), so a
//! task whose create was answered survives a SIGKILL or a power cut right after.

mod claim;
mod connect;
mod deliveries;
mod error;
mod group_commit;
mod idempotency;
mod ownership;
mod queue;
mod tasks;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::{
    sql, Delivery, DeliveryOutcome, DispatchPolicy, ListQuery, Pick, QueueAhead, Reservation,
    StatusCount, StoreError, TaskRecord, TaskStore, WaitingCount,
};

/// Tasks and idempotency keys in an SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every write goes through it, in order.
    writer: SqlitePool,
    /// Reads only; the same pool as `writer` for an in-memory database.
    reader: SqlitePool,
    /// Creates, committed in groups.
    inserts: group_commit::Inserts,
}

impl SqliteStore {
    /// Opens (creating it, and its parent directories, if missing) the database at `path`
    /// and brings its schema up to date. Opening the same file again is fine.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let (writer, reader) = connect::open_file(path).await?;
        let inserts = group_commit::Inserts::spawn(writer.clone());
        Ok(SqliteStore {
            writer,
            reader,
            inserts,
        })
    }

    /// A private database in memory, gone when the store is dropped (tests).
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let pool = connect::open_memory().await?;
        Ok(SqliteStore {
            inserts: group_commit::Inserts::spawn(pool.clone()),
            writer: pool.clone(),
            reader: pool,
        })
    }

    /// Waits for in-flight queries and closes every connection (graceful shutdown).
    /// Not needed for durability: each commit is on disk when it returns.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn insert(&self, record: &TaskRecord) -> Result<(), StoreError> {
        self.inserts.insert(record).await
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        tasks::get(&self.reader, tenant, id).await
    }

    async fn update(&self, record: &TaskRecord) -> Result<Option<i64>, StoreError> {
        tasks::update(&self.writer, record).await
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<Vec<TaskRecord>, StoreError> {
        tasks::list(&self.reader, tenant, query).await
    }

    async fn count_unfinished(&self, tenant: &str) -> Result<u64, StoreError> {
        tasks::count_unfinished(&self.reader, tenant).await
    }

    async fn reserve_idempotency(
        &self,
        tenant: &str,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Reservation, StoreError> {
        idempotency::reserve(&self.writer, tenant, key, request_hash, now, ttl).await
    }

    async fn complete_idempotency(
        &self,
        tenant: &str,
        key: &str,
        task_id: &str,
    ) -> Result<(), StoreError> {
        idempotency::complete(&self.writer, tenant, key, task_id).await
    }

    async fn release_idempotency(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        idempotency::release(&self.writer, tenant, key).await
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        claim::claim_due(&self.writer, owner, now, lease, limit).await
    }

    async fn update_with_delivery(
        &self,
        record: &TaskRecord,
        delivery: &Delivery,
    ) -> Result<Option<i64>, StoreError> {
        deliveries::update_with_delivery(&self.writer, record, delivery).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        deliveries::claim(&self.writer, owner, now, lease, limit).await
    }

    async fn finish_delivery(&self, id: &str, outcome: &DeliveryOutcome) -> Result<(), StoreError> {
        deliveries::finish(&self.writer, id, outcome).await
    }

    async fn count_unfinished_by_provider(&self) -> Result<Vec<StatusCount>, StoreError> {
        tasks::count_unfinished_by_provider(&self.reader).await
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    async fn record_passthrough_task(
        &self,
        provider: &str,
        provider_task_id: &str,
        tenant: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        ownership::record(&self.writer, provider, provider_task_id, tenant, at).await
    }

    async fn owns_provider_task(
        &self,
        tenant: &str,
        provider: &str,
        provider_task_id: &str,
    ) -> Result<bool, StoreError> {
        ownership::owns(&self.reader, tenant, provider, provider_task_id).await
    }

    async fn claim_dispatch(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        policy: &DispatchPolicy,
        pick: Pick<'_>,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        queue::claim_dispatch(&self.writer, owner, now, lease, policy, pick).await
    }

    async fn queue_ahead(&self, record: &TaskRecord) -> Result<QueueAhead, StoreError> {
        sql::queue::ahead(&self.reader, record, error::from_sqlx).await
    }

    async fn count_waiting(&self, tenant: Option<&str>) -> Result<Vec<WaitingCount>, StoreError> {
        sql::queue::count_waiting(&self.reader, tenant, error::from_sqlx).await
    }

    async fn discard(&self, tenant: &str, id: &str, version: i64) -> Result<bool, StoreError> {
        sql::queue::discard(&self.writer, tenant, id, version, error::from_sqlx).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(error::from_sqlx)?;
        Ok(())
    }
}
