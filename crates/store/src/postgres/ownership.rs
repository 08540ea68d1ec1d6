//! Who owns a provider's task: a stable-API task's provider columns, or a pass-through create.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::error::from_sqlx;
use crate::timestamp::to_nanos;
use crate::StoreError;

pub(super) async fn record(
    pool: &PgPool,
    provider: &str,
    provider_task_id: &str,
    tenant: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO passthrough_tasks (provider, provider_task_id, tenant, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (provider, provider_task_id) DO NOTHING",
    )
    .bind(provider)
    .bind(provider_task_id)
    .bind(tenant)
    .bind(to_nanos(at))
    .execute(pool)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

pub(super) async fn owns(
    pool: &PgPool,
    tenant: &str,
    provider: &str,
    provider_task_id: &str,
) -> Result<bool, StoreError> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM tasks WHERE provider_task_id = $3 \
           AND provider = $2 AND tenant = $1 \
         UNION ALL \
         SELECT 1 FROM passthrough_tasks \
          WHERE provider = $2 AND provider_task_id = $3 AND tenant = $1 \
         LIMIT 1",
    )
    .bind(tenant)
    .bind(provider)
    .bind(provider_task_id)
    .fetch_optional(pool)
    .await
    .map_err(from_sqlx)?;
    Ok(found.is_some())
}
