//! The PostgreSQL engine: one database shared by every replica. Every write that can race is
//! one statement or one transaction that settles the race in the database itself: a
//! compare-and-set on `version`, `ON CONFLICT` on a primary key, or a claim that locks its
//! rows with `FOR UPDATE SKIP LOCKED`, so no two replicas ever hold the same lease. Claims
//! of the gateway's queue serialize on an advisory lock instead (`queue`): a provider's
//! free slots are a count, which no row lock guards.

mod claim;
mod connect;
mod deliveries;
mod error;
mod idempotency;
mod ownership;
mod queue;
mod tasks;

#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    sql, Delivery, DeliveryOutcome, DispatchPolicy, ListQuery, Pick, QueueAhead, Reservation,
    StatusCount, StoreError, TaskRecord, TaskStore, WaitingCount,
};

/// Tasks, idempotency keys and the webhook outbox in a PostgreSQL database, shared by every
/// replica of the gateway.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// A few connections; its `Debug` shows the pool's sizes, never the connection URL.
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// with the usual query parameters, e.g. `options=-c search_path=taskgate`) and brings
    /// its schema up to date. Several replicas may connect at once: one migrates while the
    /// others wait, then find nothing to do. An error never repeats the URL (it may hold a
    /// password).
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let pool = connect::connect(url).await?;
        Ok(PostgresStore { pool })
    }

    /// Waits for in-flight queries and closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl TaskStore for PostgresStore {
    async fn insert(&self, record: &TaskRecord) -> Result<(), StoreError> {
        tasks::insert(&self.pool, record).await
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        tasks::get(&self.pool, tenant, id).await
    }

    async fn update(&self, record: &TaskRecord) -> Result<Option<i64>, StoreError> {
        tasks::update(&self.pool, record).await
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<Vec<TaskRecord>, StoreError> {
        tasks::list(&self.pool, tenant, query).await
    }

    async fn count_unfinished(&self, tenant: &str) -> Result<u64, StoreError> {
        tasks::count_unfinished(&self.pool, tenant).await
    }

    async fn count_unfinished_by_provider(&self) -> Result<Vec<StatusCount>, StoreError> {
        tasks::count_unfinished_by_provider(&self.pool).await
    }

    async fn close(&self) {
        PostgresStore::close(self).await;
    }

    async fn reserve_idempotency(
        &self,
        tenant: &str,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Reservation, StoreError> {
        idempotency::reserve(&self.pool, tenant, key, request_hash, now, ttl).await
    }

    async fn complete_idempotency(
        &self,
        tenant: &str,
        key: &str,
        task_id: &str,
    ) -> Result<(), StoreError> {
        idempotency::complete(&self.pool, tenant, key, task_id).await
    }

    async fn release_idempotency(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        idempotency::release(&self.pool, tenant, key).await
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        claim::claim_due(&self.pool, owner, now, lease, limit).await
    }

    async fn update_with_delivery(
        &self,
        record: &TaskRecord,
        delivery: &Delivery,
    ) -> Result<Option<i64>, StoreError> {
        deliveries::update_with_delivery(&self.pool, record, delivery).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        deliveries::claim(&self.pool, owner, now, lease, limit).await
    }

    async fn finish_delivery(&self, id: &str, outcome: &DeliveryOutcome) -> Result<(), StoreError> {
        deliveries::finish(&self.pool, id, outcome).await
    }

    async fn record_passthrough_task(
        &self,
        provider: &str,
        provider_task_id: &str,
        tenant: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        ownership::record(&self.pool, provider, provider_task_id, tenant, at).await
    }

    async fn owns_provider_task(
        &self,
        tenant: &str,
        provider: &str,
        provider_task_id: &str,
    ) -> Result<bool, StoreError> {
        ownership::owns(&self.pool, tenant, provider, provider_task_id).await
    }

    async fn claim_dispatch(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        policy: &DispatchPolicy,
        pick: Pick<'_>,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        queue::claim_dispatch(&self.pool, owner, now, lease, policy, pick).await
    }

    async fn queue_ahead(&self, record: &TaskRecord) -> Result<QueueAhead, StoreError> {
        sql::queue::ahead(&self.pool, record, error::from_sqlx).await
    }

    async fn count_waiting(&self, tenant: Option<&str>) -> Result<Vec<WaitingCount>, StoreError> {
        sql::queue::count_waiting(&self.pool, tenant, error::from_sqlx).await
    }

    async fn discard(&self, tenant: &str, id: &str, version: i64) -> Result<bool, StoreError> {
        sql::queue::discard(&self.pool, tenant, id, version, error::from_sqlx).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(error::from_sqlx)?;
        Ok(())
    }
}
