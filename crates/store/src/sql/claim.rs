//! Leasing due tasks to a watcher: one statement, so one atomic write. The engines' texts
//! differ only in how the inner `SELECT` locks what it picks, so each engine writes its
//! own with [`claim_due!`] and runs it through [`due`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

use super::error::from_sqlx;
use crate::row::TaskRow;
use crate::time::later;
use crate::timestamp::to_nanos;
use crate::{StoreError, TaskRecord};

/// The claim of due tasks: `$1` owner, `$2` lease end, `$3` now, `$4` limit; `$lock` ends
/// the inner `SELECT` (the engine's row locking, or `""`). The lease is not part of the
/// task, so `body` is untouched.
macro_rules! claim_due {
    ($lock:literal) => {
        concat!(
            "UPDATE tasks SET lease_owner = $1, lease_until = $2, version = version + 1 ",
            "WHERE id IN (SELECT id FROM tasks WHERE ",
            unfinished!(),
            " AND next_check_at <= $3 AND (lease_until IS NULL OR lease_until < $3) ",
            "ORDER BY next_check_at, id LIMIT $4",
            $lock,
            ") RETURNING ",
            task_columns!()
        )
    };
}

/// [`crate::TaskStore::claim_due`] with the engine's `statement` (see [`claim_due!`]),
/// most overdue first.
pub(crate) async fn due<'e, DB, E>(
    executor: E,
    statement: &'static str,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<TaskRecord>, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> TaskRow: FromRow<'r, DB::Row>,
{
    let rows: Vec<TaskRow> = leased(executor, statement, owner, now, lease, limit).await?;
    let mut claimed = rows
        .into_iter()
        .map(TaskRow::into_record)
        .collect::<Result<Vec<_>, _>>()?;
    // RETURNING comes in no promised order.
    claimed.sort_by(|a, b| (a.next_check_at, &a.task.id).cmp(&(b.next_check_at, &b.task.id)));
    Ok(claimed)
}

/// Runs a claim `statement` of the shape every claim has (`$1` owner, `$2` lease end, `$3`
/// now, `$4` limit) and returns the rows it leased.
pub(crate) async fn leased<'e, DB, E, Row>(
    executor: E,
    statement: &'static str,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Row>, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    Row: Send + Unpin + for<'r> FromRow<'r, DB::Row>,
{
    sqlx::query_as(statement)
        .bind(owner.to_owned())
        .bind(to_nanos(later(now, lease)))
        .bind(to_nanos(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(executor)
        .await
        .map_err(from_sqlx)
}
