//! The webhook outbox: queued with the task's final update, claimed with leases.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::error::from_sqlx;
use crate::row::{DeliveryRow, TaskColumns, UPDATE_TASK};
use crate::time::later;
use crate::timestamp::to_nanos;
use crate::{Delivery, DeliveryOutcome, StoreError, TaskRecord};

const INSERT: &str = "INSERT INTO deliveries (id, tenant, task_id, url, body, created_at, \
     attempts, status, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)";

const CLAIM: &str = "UPDATE deliveries SET lease_owner = ?1, lease_until = ?2 \
     WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?3 \
     AND (lease_until IS NULL OR lease_until < ?3) ORDER BY next_attempt_at, id LIMIT ?4) \
     RETURNING id, tenant, task_id, url, body, created_at, attempts, next_attempt_at, \
     lease_owner, lease_until";

pub(super) async fn update_with_delivery(
    pool: &SqlitePool,
    record: &TaskRecord,
    delivery: &Delivery,
) -> Result<Option<i64>, StoreError> {
    let mut tx = pool.begin().await.map_err(from_sqlx)?;
    let done = TaskColumns::of(record)?
        .bind(sqlx::query(UPDATE_TASK))
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query(INSERT)
        .bind(&delivery.id)
        .bind(&delivery.tenant)
        .bind(&delivery.task_id)
        .bind(&delivery.url)
        .bind(&delivery.body)
        .bind(to_nanos(delivery.created_at))
        .bind(i64::from(delivery.attempts))
        .bind(to_nanos(delivery.next_attempt_at))
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
    tx.commit().await.map_err(from_sqlx)?;
    Ok(Some(record.version + 1))
}

pub(super) async fn claim(
    pool: &SqlitePool,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(CLAIM)
        .bind(owner)
        .bind(to_nanos(later(now, lease)))
        .bind(to_nanos(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await
        .map_err(from_sqlx)?;
    let mut deliveries: Vec<Delivery> = rows.into_iter().map(DeliveryRow::into_delivery).collect();
    deliveries.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
    Ok(deliveries)
}

pub(super) async fn finish(
    pool: &SqlitePool,
    id: &str,
    outcome: &DeliveryOutcome,
) -> Result<(), StoreError> {
    let (status, next, error) = match outcome {
        DeliveryOutcome::Delivered => ("delivered", None, None),
        DeliveryOutcome::Retry { at, error } => {
            ("pending", Some(to_nanos(*at)), Some(error.as_str()))
        }
        DeliveryOutcome::Failed { error } => ("failed", None, Some(error.as_str())),
    };
    sqlx::query(
        "UPDATE deliveries SET status = ?1, next_attempt_at = ?2, last_error = ?3, \
         attempts = attempts + 1, lease_owner = NULL, lease_until = NULL WHERE id = ?4",
    )
    .bind(status)
    .bind(next)
    .bind(error)
    .bind(id)
    .execute(pool)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}
