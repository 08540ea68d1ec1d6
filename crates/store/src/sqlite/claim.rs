//! Leasing due tasks to a watcher: one statement, so one atomic write.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::error::from_sqlx;
use crate::row::TaskRow;
use crate::time::later;
use crate::timestamp::to_nanos;
use crate::{StoreError, TaskRecord};

/// `?1` owner, `?2` lease end, `?3` now, `?4` limit. The lease is not part of the task, so
/// `body` is untouched.
pub(super) const CLAIM: &str = concat!(
    "UPDATE tasks SET lease_owner = ?1, lease_until = ?2, version = version + 1 ",
    "WHERE id IN (SELECT id FROM tasks WHERE ",
    unfinished!(),
    " AND next_check_at <= ?3 AND (lease_until IS NULL OR lease_until < ?3) ",
    "ORDER BY next_check_at, id LIMIT ?4) ",
    "RETURNING ",
    task_columns!()
);

pub(super) async fn claim_due(
    pool: &SqlitePool,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<TaskRecord>, StoreError> {
    let rows: Vec<TaskRow> = sqlx::query_as(CLAIM)
        .bind(owner)
        .bind(to_nanos(later(now, lease)))
        .bind(to_nanos(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await
        .map_err(from_sqlx)?;
    let mut claimed = rows
        .into_iter()
        .map(TaskRow::into_record)
        .collect::<Result<Vec<_>, _>>()?;
    // RETURNING comes in no promised order.
    claimed.sort_by(|a, b| (a.next_check_at, &a.task.id).cmp(&(b.next_check_at, &b.task.id)));
    Ok(claimed)
}
