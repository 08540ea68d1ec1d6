//! Reserving an idempotency key (completing and releasing one are shared:
//! `crate::sql::idempotency`). The primary key `(tenant, key)` settles a race between
//! replicas: of two reservations of one key at once, one inserts and the other waits for it
//! to commit, then finds the key taken.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::sql::error::from_sqlx;
use crate::sql::idempotency::{held, purge};
use crate::time::earlier;
use crate::timestamp::to_nanos;
use crate::{Reservation, StoreError};

/// Rows another replica is purging (or re-reserving) right now are skipped, so concurrent
/// purges neither wait for nor deadlock with each other.
const PURGE: &str = purge_expired_keys!(" FOR UPDATE SKIP LOCKED");

/// `$1` tenant, `$2` key, `$3` request hash, `$4` now, `$5` cutoff. Inserts the binding, or
/// replaces an expired one in place (it counts as absent); an unexpired one is left alone
/// and no row is affected.
const TAKE: &str = "INSERT INTO idempotency_keys (tenant, key, request_hash, task_id, created_at) \
     VALUES ($1, $2, $3, NULL, $4) \
     ON CONFLICT (tenant, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
     task_id = NULL, created_at = EXCLUDED.created_at \
     WHERE idempotency_keys.created_at < $5";

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
    purge(pool, PURGE, cutoff).await?;
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
        if let Some(entry) = held(pool, tenant, key).await? {
            return Ok(Reservation::Existing(entry));
        }
    }
    Err(StoreError::Unavailable(format!(
        "idempotency key kept changing hands over {ROUNDS} attempts"
    )))
}
