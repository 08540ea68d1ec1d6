//! The PostgreSQL engine: one database shared by every replica. Every write that can race is
//! one statement or one transaction that settles the race in the database itself: a
//! compare-and-set on `version`, `ON CONFLICT` on a primary key, or a claim that locks its
//! rows with `FOR UPDATE SKIP LOCKED`, so no two replicas ever hold the same lease. Claims
//! of the gateway's queue serialize on an advisory lock instead (`queue`): a provider's
//! free slots are a count, which no row lock guards.

mod claim;
mod connect;
mod idempotency;
mod queue;

#[cfg(test)]
mod tests;

use sqlx::PgPool;

use crate::{sql, StoreError};

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

sql_task_store!(PostgresStore {
    writer: pool,
    reader: pool,
    insert: |store, record| sql::tasks::insert(&store.pool, record),
    update: |store, record| sql::tasks::update(&store.pool, record),
    claim_due: claim::TASKS,
    claim_deliveries: claim::DELIVERIES,
    reserve_idempotency: idempotency::reserve,
    claim_dispatch: queue::claim_dispatch,
});
