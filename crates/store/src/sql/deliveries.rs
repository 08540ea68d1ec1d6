//! The webhook outbox: queued with the task's change that gave rise to each event, claimed
//! with leases, one task's events strictly in order. As with tasks, the claim's text
//! differs per engine only in its row locking: each engine writes its own with
//! [`claim_deliveries!`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::claim::leased;
use super::error::from_sqlx;
use super::RowsAffected;
use crate::row::{DeliveryRow, TaskColumns, UPDATE_TASK};
use crate::timestamp::to_nanos;
use crate::{Delivery, DeliveryOutcome, StoreError, TaskRecord};

const INSERT: &str = "INSERT INTO deliveries (id, tenant, task_id, url, body, created_at, \
     attempts, status, next_attempt_at, event, seq) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10)";

/// `$2`, `next_attempt_at`: of a retry, when it is due; of a finished `task.progress`,
/// until when it holds the task's next one back (see [`claim_deliveries!`]).
const FINISH: &str = "UPDATE deliveries SET status = $1, next_attempt_at = $2, last_error = $3, \
     attempts = attempts + 1, lease_owner = NULL, lease_until = NULL WHERE id = $4";

/// The claim of due deliveries: `$1` owner, `$2` lease end, `$3` now, `$4` limit; `$lock`
/// ends the inner `SELECT` (the engine's row locking, or `""`). Only the first pending
/// delivery of a task can be claimed: while it is pending (leased, or waiting for a
/// retry) the task's later events wait behind it. A `task.progress` also waits while an
/// earlier one, finished, still holds it back (its `next_attempt_at` is in the future).
macro_rules! claim_deliveries {
    ($lock:literal) => {
        concat!(
            "UPDATE deliveries SET lease_owner = $1, lease_until = $2 ",
            "WHERE id IN (SELECT d.id FROM deliveries d WHERE d.status = 'pending' ",
            "AND d.next_attempt_at <= $3 AND (d.lease_until IS NULL OR d.lease_until < $3) ",
            "AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.task_id = d.task_id ",
            "AND e.seq < d.seq AND (e.status = 'pending' OR (d.event = 'task.progress' ",
            "AND e.event = 'task.progress' AND e.next_attempt_at > $3))) ",
            "ORDER BY d.next_attempt_at, d.id LIMIT $4",
            $lock,
            ") RETURNING id, tenant, task_id, url, body, created_at, attempts, ",
            "next_attempt_at, lease_owner, lease_until, event, seq"
        )
    };
}

/// [`crate::TaskStore::update_with_deliveries`], in one transaction on `pool`.
pub(crate) async fn update_with_deliveries<DB>(
    pool: &Pool<DB>,
    record: &TaskRecord,
    deliveries: &[Delivery],
) -> Result<Option<i64>, StoreError>
where
    DB: Database,
    DB::QueryResult: RowsAffected,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    &'static str: Encode<'static, DB> + Type<DB>,
    Option<&'static str>: Encode<'static, DB> + Type<DB>,
    i64: Encode<'static, DB> + Type<DB>,
    Option<i64>: Encode<'static, DB> + Type<DB>,
    String: Encode<'static, DB> + Type<DB>,
    Option<String>: Encode<'static, DB> + Type<DB>,
{
    let mut tx = pool.begin().await.map_err(from_sqlx)?;
    let done = TaskColumns::of(record)?
        .bind(sqlx::query::<DB>(UPDATE_TASK))
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    for delivery in deliveries {
        sqlx::query::<DB>(INSERT)
            .bind(delivery.id.clone())
            .bind(delivery.tenant.clone())
            .bind(delivery.task_id.clone())
            .bind(delivery.url.clone())
            .bind(delivery.body.clone())
            .bind(to_nanos(delivery.created_at))
            .bind(i64::from(delivery.attempts))
            .bind(to_nanos(delivery.next_attempt_at))
            .bind(delivery.event.clone())
            .bind(delivery.seq)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
    }
    tx.commit().await.map_err(from_sqlx)?;
    Ok(Some(record.version + 1))
}

/// [`crate::TaskStore::claim_deliveries`] with the engine's `statement` (see
/// [`claim_deliveries!`]), most overdue first.
pub(crate) async fn claim<'e, DB, E>(
    executor: E,
    statement: &'static str,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> DeliveryRow: FromRow<'r, DB::Row>,
{
    let rows: Vec<DeliveryRow> = leased(executor, statement, owner, now, lease, limit).await?;
    let mut deliveries: Vec<Delivery> = rows.into_iter().map(DeliveryRow::into_delivery).collect();
    // RETURNING comes in no promised order.
    deliveries.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
    Ok(deliveries)
}

/// [`crate::TaskStore::finish_delivery`].
pub(crate) async fn finish<'e, DB, E>(
    executor: E,
    delivery: &Delivery,
    outcome: &DeliveryOutcome,
    hold_progress_until: Option<DateTime<Utc>>,
) -> Result<(), StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
{
    let (status, next, error) = match outcome {
        DeliveryOutcome::Delivered => ("delivered", hold_progress_until.map(to_nanos), None),
        DeliveryOutcome::Retry { at, error } => ("pending", Some(to_nanos(*at)), Some(error)),
        DeliveryOutcome::Failed { error } => {
            ("failed", hold_progress_until.map(to_nanos), Some(error))
        }
    };
    sqlx::query(FINISH)
        .bind(status.to_owned())
        .bind(next)
        .bind(error.cloned())
        .bind(delivery.id.clone())
        .execute(executor)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}
