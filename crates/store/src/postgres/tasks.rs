//! Reading and writing tasks: insert, get, compare-and-set update, list, count.

use sqlx::{PgPool, Postgres, QueryBuilder};

use super::error::{from_sqlx, is_unique_violation};
use crate::row::{TaskColumns, TaskRow, INSERT_TASK, UPDATE_TASK};
use crate::timestamp::to_nanos;
use crate::{ListQuery, StatusCount, StoreError, TaskRecord};
use taskgate_core::TaskStatus;

const GET: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE id = $1 AND tenant = $2"
);

pub(super) const COUNT_UNFINISHED: &str = concat!(
    "SELECT COUNT(*) FROM tasks WHERE tenant = $1 AND ",
    unfinished!()
);

pub(super) async fn insert(pool: &PgPool, record: &TaskRecord) -> Result<(), StoreError> {
    let query = TaskColumns::of(record)?.bind(sqlx::query(INSERT_TASK));
    match query.execute(pool).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate),
        Err(e) => Err(from_sqlx(e)),
    }
}

pub(super) async fn get(
    pool: &PgPool,
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

pub(super) async fn update(pool: &PgPool, record: &TaskRecord) -> Result<Option<i64>, StoreError> {
    let query = TaskColumns::of(record)?.bind(sqlx::query(UPDATE_TASK));
    let done = query.execute(pool).await.map_err(from_sqlx)?;
    Ok((done.rows_affected() == 1).then_some(record.version + 1))
}

/// The page query; its shape (row comparison, order) is what the list indexes serve.
pub(super) fn list_query<'a>(tenant: &'a str, query: &'a ListQuery) -> QueryBuilder<'a, Postgres> {
    let mut sql = QueryBuilder::<Postgres>::new(concat!(
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
    sql
}

pub(super) async fn list(
    pool: &PgPool,
    tenant: &str,
    query: &ListQuery,
) -> Result<Vec<TaskRecord>, StoreError> {
    let rows: Vec<TaskRow> = list_query(tenant, query)
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(from_sqlx)?;
    rows.into_iter().map(TaskRow::into_record).collect()
}

pub(super) async fn count_unfinished(pool: &PgPool, tenant: &str) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar(COUNT_UNFINISHED)
        .bind(tenant)
        .fetch_one(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

const COUNT_BY_PROVIDER: &str = concat!(
    "SELECT provider, status, COUNT(*) FROM tasks WHERE ",
    unfinished!(),
    " GROUP BY 1, 2"
);

pub(super) async fn count_unfinished_by_provider(
    pool: &PgPool,
) -> Result<Vec<StatusCount>, StoreError> {
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(COUNT_BY_PROVIDER)
        .fetch_all(pool)
        .await
        .map_err(from_sqlx)?;
    Ok(rows
        .into_iter()
        .filter_map(|(provider, status, count)| {
            let status = TaskStatus::parse(&status)?;
            Some(StatusCount {
                provider: provider.unwrap_or_default(),
                status,
                count: u64::try_from(count).unwrap_or(0),
            })
        })
        .collect())
}
