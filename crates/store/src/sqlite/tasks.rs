//! Reading and writing tasks: insert, get, compare-and-set update, list, count.

use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use taskgate_core::TaskStatus;

use super::error::from_sqlx;
use crate::row::{TaskColumns, TaskRow, UPDATE_TASK};
use crate::timestamp::to_nanos;
use crate::{ListQuery, StatusCount, StoreError, TaskRecord};

const GET: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE id = ?1 AND tenant = ?2"
);

pub(super) const COUNT_UNFINISHED: &str = concat!(
    "SELECT COUNT(*) FROM tasks WHERE tenant = ?1 AND ",
    unfinished!()
);

const COUNT_BY_PROVIDER: &str = concat!(
    "SELECT provider, status, COUNT(*) FROM tasks WHERE ",
    unfinished!(),
    " GROUP BY 1, 2"
);

pub(super) async fn get(
    pool: &SqlitePool,
    tenant: &str,
    id: &str,
) -> Result<Option<TaskRecord>, StoreError> {
    let row: Option<TaskRow> = sqlx::query_as(GET)
        .bind(id)
        .bind(tenant)
        .fetch_optional(pool)
        .await
        .map_err(from_sqlx)?;
    row.map(TaskRow::into_record).transpose()
}

pub(super) async fn update(
    pool: &SqlitePool,
    record: &TaskRecord,
) -> Result<Option<i64>, StoreError> {
    let query = TaskColumns::of(record)?.bind(sqlx::query(UPDATE_TASK));
    let done = query.execute(pool).await.map_err(from_sqlx)?;
    Ok((done.rows_affected() == 1).then_some(record.version + 1))
}

pub(super) async fn list(
    pool: &SqlitePool,
    tenant: &str,
    query: &ListQuery,
) -> Result<Vec<TaskRecord>, StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks WHERE tenant = "
    ));
    sql.push_bind(tenant);
    if let Some(status) = query.status {
        sql.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(cursor) = &query.after {
        sql.push(" AND (created_at, id) < (")
            .push_bind(to_nanos(cursor.created_at))
            .push(", ")
            .push_bind(cursor.id.as_str())
            .push(")");
    }
    sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
    let rows: Vec<TaskRow> = sql
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(from_sqlx)?;
    rows.into_iter().map(TaskRow::into_record).collect()
}

pub(super) async fn count_unfinished(pool: &SqlitePool, tenant: &str) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar(COUNT_UNFINISHED)
        .bind(tenant)
        .fetch_one(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

pub(super) async fn count_unfinished_by_provider(
    pool: &SqlitePool,
) -> Result<Vec<StatusCount>, StoreError> {
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(COUNT_BY_PROVIDER)
        .fetch_all(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(rows
        .into_iter()
        .filter_map(|(provider, status, count)| {
            let status = TaskStatus::ALL.into_iter().find(|s| s.as_str() == status)?;
            Some(StatusCount {
                provider: provider.unwrap_or_default(),
                status,
                count: u64::try_from(count).unwrap_or(0),
            })
        })
        .collect())
}
