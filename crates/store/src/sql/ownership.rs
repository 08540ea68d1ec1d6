//! Who owns a provider's task: a stable-API task's provider columns, or a pass-through create.

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Type};

use super::error::from_sqlx;
use crate::timestamp::to_nanos;
use crate::StoreError;

const RECORD: &str = "INSERT INTO passthrough_tasks (provider, provider_task_id, tenant, \
     created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (provider, provider_task_id) DO NOTHING";

/// `$1` tenant, `$2` provider, `$3` provider task id.
const OWNS: &str = "SELECT 1 FROM tasks WHERE provider_task_id = $3 \
       AND provider = $2 AND tenant = $1 \
     UNION ALL \
     SELECT 1 FROM passthrough_tasks \
      WHERE provider = $2 AND provider_task_id = $3 AND tenant = $1 \
     LIMIT 1";

/// [`crate::TaskStore::record_passthrough_task`].
pub(crate) async fn record<'e, DB, E>(
    executor: E,
    provider: &str,
    provider_task_id: &str,
    tenant: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(RECORD)
        .bind(provider.to_owned())
        .bind(provider_task_id.to_owned())
        .bind(tenant.to_owned())
        .bind(to_nanos(at))
        .execute(executor)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

/// [`crate::TaskStore::owns_provider_task`].
pub(crate) async fn owns<'e, DB, E>(
    executor: E,
    tenant: &str,
    provider: &str,
    provider_task_id: &str,
) -> Result<bool, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    // Only whether a row comes back matters, so the row is not decoded (the literal's type
    // differs between the engines).
    let found = sqlx::query(OWNS)
        .bind(tenant.to_owned())
        .bind(provider.to_owned())
        .bind(provider_task_id.to_owned())
        .fetch_optional(executor)
        .await
        .map_err(from_sqlx)?;
    Ok(found.is_some())
}
