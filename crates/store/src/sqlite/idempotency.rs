//! Idempotency keys: reserve, complete, release.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::error::from_sqlx;
use crate::time::earlier;
use crate::timestamp::{from_nanos, to_nanos};
use crate::{IdempotencyEntry, Reservation, StoreError};

/// Expired keys purged per reservation: enough to outpace creation, cheap every time.
const PURGE_BATCH: i64 = 100;

pub(super) async fn reserve(
    pool: &SqlitePool,
    tenant: &str,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Reservation, StoreError> {
    let cutoff = to_nanos(earlier(now, ttl));
    // IMMEDIATE: take the write lock first, so the read below sees what the insert lost to.
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(from_sqlx)?;
    purge_expired(&mut tx, tenant, key, cutoff).await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (tenant, key, request_hash, task_id, created_at) \
         VALUES (?1, ?2, ?3, NULL, ?4) ON CONFLICT (tenant, key) DO NOTHING",
    )
    .bind(tenant)
    .bind(key)
    .bind(request_hash)
    .bind(to_nanos(now))
    .execute(&mut *tx)
    .await
    .map_err(from_sqlx)?
    .rows_affected();
    let reservation = if inserted == 1 {
        Reservation::Reserved
    } else {
        let (request_hash, task_id, created_at): (String, Option<String>, i64) = sqlx::query_as(
            "SELECT request_hash, task_id, created_at FROM idempotency_keys \
             WHERE tenant = ?1 AND key = ?2",
        )
        .bind(tenant)
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        Reservation::Existing(IdempotencyEntry {
            request_hash,
            task_id,
            created_at: from_nanos(created_at),
        })
    };
    tx.commit().await.map_err(from_sqlx)?;
    Ok(reservation)
}

/// Drops this key if it expired (it counts as absent), and a bounded batch of other
/// expired keys.
async fn purge_expired(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &str,
    key: &str,
    cutoff: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE tenant = ?1 AND key = ?2 AND created_at < ?3")
        .bind(tenant)
        .bind(key)
        .bind(cutoff)
        .execute(&mut **tx)
        .await
        .map_err(from_sqlx)?;
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE (tenant, key) IN \
         (SELECT tenant, key FROM idempotency_keys WHERE created_at < ?1 LIMIT ?2)",
    )
    .bind(cutoff)
    .bind(PURGE_BATCH)
    .execute(&mut **tx)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

pub(super) async fn complete(
    pool: &SqlitePool,
    tenant: &str,
    key: &str,
    task_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE idempotency_keys SET task_id = ?3 WHERE tenant = ?1 AND key = ?2")
        .bind(tenant)
        .bind(key)
        .bind(task_id)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

pub(super) async fn release(pool: &SqlitePool, tenant: &str, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE tenant = ?1 AND key = ?2")
        .bind(tenant)
        .bind(key)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}
