//! Idempotency keys: what the engines share. A reservation itself is each engine's own
//! (how it settles two reservations of one key at once differs), built from these parts.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

use super::error::from_sqlx;
use crate::timestamp::from_nanos;
use crate::{IdempotencyEntry, StoreError};

/// Expired keys purged per reservation: enough to outpace creation, cheap every time.
pub(crate) const PURGE_BATCH: i64 = 100;

/// The purge of expired keys: `$1` cutoff, `$2` batch; `$lock` ends the inner `SELECT` (the
/// engine's row locking, or `""`).
macro_rules! purge_expired_keys {
    ($lock:literal) => {
        concat!(
            "DELETE FROM idempotency_keys WHERE (tenant, key) IN ",
            "(SELECT tenant, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2",
            $lock,
            ")"
        )
    };
}

const READ: &str = "SELECT request_hash, task_id, created_at FROM idempotency_keys \
     WHERE tenant = $1 AND key = $2";

const COMPLETE: &str = "UPDATE idempotency_keys SET task_id = $3 WHERE tenant = $1 AND key = $2";

const RELEASE: &str = "DELETE FROM idempotency_keys WHERE tenant = $1 AND key = $2";

/// Deletes up to [`PURGE_BATCH`] keys created before `cutoff` with the engine's `statement`
/// (see [`purge_expired_keys!`]).
pub(crate) async fn purge<'e, DB, E>(
    executor: E,
    statement: &'static str,
    cutoff: i64,
) -> Result<(), StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(statement)
        .bind(cutoff)
        .bind(PURGE_BATCH)
        .execute(executor)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

/// The binding of `key`, if there is one (expired or not).
pub(crate) async fn held<'e, DB, E>(
    executor: E,
    tenant: &str,
    key: &str,
) -> Result<Option<IdempotencyEntry>, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> (String, Option<String>, i64): FromRow<'r, DB::Row>,
{
    let held: Option<(String, Option<String>, i64)> = sqlx::query_as(READ)
        .bind(tenant.to_owned())
        .bind(key.to_owned())
        .fetch_optional(executor)
        .await
        .map_err(from_sqlx)?;
    Ok(
        held.map(|(request_hash, task_id, created_at)| IdempotencyEntry {
            request_hash,
            task_id,
            created_at: from_nanos(created_at),
        }),
    )
}

/// [`crate::TaskStore::complete_idempotency`].
pub(crate) async fn complete<'e, DB, E>(
    executor: E,
    tenant: &str,
    key: &str,
    task_id: &str,
) -> Result<(), StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(COMPLETE)
        .bind(tenant.to_owned())
        .bind(key.to_owned())
        .bind(task_id.to_owned())
        .execute(executor)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

/// [`crate::TaskStore::release_idempotency`].
pub(crate) async fn release<'e, DB, E>(
    executor: E,
    tenant: &str,
    key: &str,
) -> Result<(), StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(RELEASE)
        .bind(tenant.to_owned())
        .bind(key.to_owned())
        .execute(executor)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}
