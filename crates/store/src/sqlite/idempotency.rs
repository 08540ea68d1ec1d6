//! Reserving an idempotency key (completing and releasing one are shared:
//! `crate::sql::idempotency`): one `BEGIN IMMEDIATE` transaction on the writer, so nothing
//! lands between the insert and the read of what it lost to.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::sql::error::from_sqlx;
use crate::sql::idempotency::{held, purge};
use crate::time::earlier;
use crate::timestamp::to_nanos;
use crate::{Reservation, StoreError};

/// This key, if it expired (it counts as absent): `$1` tenant, `$2` key, `$3` cutoff.
const PURGE_KEY: &str =
    "DELETE FROM idempotency_keys WHERE tenant = $1 AND key = $2 AND created_at < $3";

/// A bounded batch of other expired keys; the write lock already keeps out every other
/// writer.
const PURGE: &str = purge_expired_keys!("");

/// `$1` tenant, `$2` key, `$3` request hash, `$4` now; no row is affected if the key is held.
const TAKE: &str = "INSERT INTO idempotency_keys (tenant, key, request_hash, task_id, created_at) \
     VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (tenant, key) DO NOTHING";

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
    sqlx::query(PURGE_KEY)
        .bind(tenant)
        .bind(key)
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
    purge(&mut *tx, PURGE, cutoff).await?;
    let inserted = sqlx::query(TAKE)
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
        // The insert lost to this row, and the write lock keeps it there.
        let entry = held(&mut *tx, tenant, key)
            .await?
            .ok_or_else(|| from_sqlx(sqlx::Error::RowNotFound))?;
        Reservation::Existing(entry)
    };
    tx.commit().await.map_err(from_sqlx)?;
    Ok(reservation)
}
