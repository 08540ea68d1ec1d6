//! Idempotency keys: reserve, complete, release. The primary key `(tenant, key)` settles a
//! race between replicas: of two reservations of one key at once, one inserts and the other
//! waits for it to commit, then finds the key taken.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::error::from_sqlx;
use crate::time::earlier;
use crate::timestamp::{from_nanos, to_nanos};
use crate::{IdempotencyEntry, Reservation, StoreError};

/// Expired keys purged per reservation: enough to outpace creation, cheap every time.
const PURGE_BATCH: i64 = 100;

/// `$1` cutoff, `$2` batch. Rows another replica is purging (or re-reserving) right now are
/// skipped, so concurrent purges neither wait for nor deadlock with each other.
const PURGE: &str = "DELETE FROM idempotency_keys WHERE (tenant, key) IN \
     (SELECT tenant, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2 \
     FOR UPDATE SKIP LOCKED)";

/// `$1` tenant, `$2` key, `$3` request hash, `$4` now, `$5` cutoff. Inserts the binding, or
/// replaces an expired one in place (it counts as absent); an unexpired one is left alone
/// and no row is affected.
const TAKE: &str = "INSERT INTO idempotency_keys (tenant, key, request_hash, task_id, created_at) \
     VALUES ($1, $2, $3, NULL, $4) \
     ON CONFLICT (tenant, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
     task_id = NULL, created_at = EXCLUDED.created_at \
     WHERE idempotency_keys.created_at < $5";

const READ: &str = "SELECT request_hash, task_id, created_at FROM idempotency_keys \
     WHERE tenant = $1 AND key = $2";

/// Rounds of "take, else read" before giving up: a round only repeats when the holder
/// released the key between the two statements.
const ROUNDS: usize = 3;

pub(super) async fn reserve(
    pool: &PgPool,
    tenant: &str,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Reservation, StoreError> {
    let cutoff = to_nanos(earlier(now, ttl));
    sqlx::query(PURGE)
        .bind(cutoff)
        .bind(PURGE_BATCH)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    for _ in 0..ROUNDS {
        let taken = sqlx::query(TAKE)
            .bind(tenant)
            .bind(key)
            .bind(request_hash)
            .bind(to_nanos(now))
            .bind(cutoff)
            .execute(pool)
            .await
            .map_err(from_sqlx)?
            .rows_affected();
        if taken == 1 {
            return Ok(Reservation::Reserved);
        }
        let held: Option<(String, Option<String>, i64)> = sqlx::query_as(READ)
            .bind(tenant)
            .bind(key)
            .fetch_optional(pool)
            .await
            .map_err(from_sqlx)?;
        if let Some((request_hash, task_id, created_at)) = held {
            return Ok(Reservation::Existing(IdempotencyEntry {
                request_hash,
                task_id,
                created_at: from_nanos(created_at),
            }));
        }
    }
    Err(StoreError::Unavailable(format!(
        "idempotency key kept changing hands over {ROUNDS} attempts"
    )))
}

pub(super) async fn complete(
    pool: &PgPool,
    tenant: &str,
    key: &str,
    task_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE idempotency_keys SET task_id = $3 WHERE tenant = $1 AND key = $2")
        .bind(tenant)
        .bind(key)
        .bind(task_id)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

pub(super) async fn release(pool: &PgPool, tenant: &str, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE tenant = $1 AND key = $2")
        .bind(tenant)
        .bind(key)
        .execute(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}
