//! Reading and writing tasks: insert, get, compare-and-set update, list, count.

use sqlx::query::Query;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use taskgate_core::TaskStatus;

use super::error::{from_sqlx, is_unique_violation};
use super::RowsAffected;
use crate::row::{TaskColumns, TaskRow, INSERT_TASK, UPDATE_TASK};
use crate::timestamp::to_nanos;
use crate::{ListQuery, StatusCount, StoreError, TaskRecord};

const GET: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE id = $1 AND tenant = $2"
);

pub(crate) const COUNT_UNFINISHED: &str = concat!(
    "SELECT COUNT(*) FROM tasks WHERE tenant = $1 AND ",
    unfinished!()
);

const COUNT_BY_PROVIDER: &str = concat!(
    "SELECT provider, status, COUNT(*) FROM tasks WHERE ",
    unfinished!(),
    " GROUP BY 1, 2"
);

/// Writes a new task in one statement; `Duplicate` if the id is taken.
pub(crate) async fn insert<'e, DB, E>(executor: E, record: &TaskRecord) -> Result<(), StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    DB::Arguments<'static>: IntoArguments<'static, DB>,
    &'static str: Encode<'static, DB> + Type<DB>,
    Option<&'static str>: Encode<'static, DB> + Type<DB>,
    i64: Encode<'static, DB> + Type<DB>,
    Option<i64>: Encode<'static, DB> + Type<DB>,
    String: Encode<'static, DB> + Type<DB>,
    Option<String>: Encode<'static, DB> + Type<DB>,
{
    let query = TaskColumns::of(record)?.bind(sqlx::query::<DB>(INSERT_TASK));
    match query.execute(executor).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate),
        Err(e) => Err(from_sqlx(e)),
    }
}

pub(crate) async fn get<'e, DB, E>(
    executor: E,
    tenant: &str,
    id: &str,
) -> Result<Option<TaskRecord>, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> TaskRow: FromRow<'r, DB::Row>,
{
    let row: Option<TaskRow> = sqlx::query_as(GET)
        .bind(id.to_owned())
        .bind(tenant.to_owned())
        .fetch_optional(executor)
        .await
        .map_err(from_sqlx)?;
    row.map(TaskRow::into_record).transpose()
}

/// [`crate::TaskStore::update`].
pub(crate) async fn update<'e, DB, E>(
    executor: E,
    record: &TaskRecord,
) -> Result<Option<i64>, StoreError>
where
    DB: Database,
    DB::QueryResult: RowsAffected,
    E: Executor<'e, Database = DB>,
    DB::Arguments<'static>: IntoArguments<'static, DB>,
    &'static str: Encode<'static, DB> + Type<DB>,
    Option<&'static str>: Encode<'static, DB> + Type<DB>,
    i64: Encode<'static, DB> + Type<DB>,
    Option<i64>: Encode<'static, DB> + Type<DB>,
    String: Encode<'static, DB> + Type<DB>,
    Option<String>: Encode<'static, DB> + Type<DB>,
{
    let query = TaskColumns::of(record)?.bind(sqlx::query::<DB>(UPDATE_TASK));
    let done = query.execute(executor).await.map_err(from_sqlx)?;
    Ok((done.rows_affected() == 1).then_some(record.version + 1))
}

/// The page query for `query`; its shape (row comparison, order) is what the list indexes
/// serve. Parameters: `$1` tenant, then the status and the cursor's `created_at` and id where
/// `query` has them, then the limit; [`list_query`] binds them.
pub(crate) fn list_statement(query: &ListQuery) -> String {
    let mut sql = String::from(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks WHERE tenant = $1"
    ));
    let mut next = 2;
    if query.status.is_some() {
        sql.push_str(&format!(" AND status = ${next}"));
        next += 1;
    }
    if query.after.is_some() {
        sql.push_str(&format!(" AND (created_at, id) < (${next}, ${})", next + 1));
        next += 2;
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${next}"));
    sql
}

/// `statement`, [`list_statement`]'s text for the same `query`, with its parameters bound.
pub(crate) fn list_query<'q, DB>(
    statement: &'q str,
    tenant: &str,
    query: &ListQuery,
) -> Query<'q, DB, DB::Arguments<'q>>
where
    DB: Database,
    String: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    let mut bound = sqlx::query(statement).bind(tenant.to_owned());
    if let Some(status) = query.status {
        bound = bound.bind(status.as_str().to_owned());
    }
    if let Some(cursor) = &query.after {
        bound = bound
            .bind(to_nanos(cursor.created_at))
            .bind(cursor.id.clone());
    }
    bound.bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
}

pub(crate) async fn list<'e, DB, E>(
    executor: E,
    tenant: &str,
    query: &ListQuery,
) -> Result<Vec<TaskRecord>, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> TaskRow: FromRow<'r, DB::Row>,
{
    let statement = list_statement(query);
    let rows = list_query::<DB>(&statement, tenant, query)
        .fetch_all(executor)
        .await
        .map_err(from_sqlx)?;
    rows.iter()
        .map(|row| TaskRow::from_row(row).map_err(from_sqlx)?.into_record())
        .collect()
}

pub(crate) async fn count_unfinished<'e, DB, E>(
    executor: E,
    tenant: &str,
) -> Result<u64, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    let (count,): (i64,) = sqlx::query_as(COUNT_UNFINISHED)
        .bind(tenant.to_owned())
        .fetch_one(executor)
        .await
        .map_err(from_sqlx)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

pub(crate) async fn count_unfinished_by_provider<'e, DB, E>(
    executor: E,
) -> Result<Vec<StatusCount>, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> (Option<String>, String, i64): FromRow<'r, DB::Row>,
{
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(COUNT_BY_PROVIDER)
        .fetch_all(executor)
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
