//! The gateway's queue (the statements are shared: `crate::sql::queue`). Claims of every
//! replica serialize on one transaction-level advisory lock, taken first thing: under READ
//! COMMITTED each statement after it sees every claim committed before, so the slots a claim
//! counts are all the slots in use, and no two claims hand out the same free one. Row locks
//! would not do: a slot is a count, not a row.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::sql::error::from_sqlx;
use crate::sql::queue;
use crate::{DispatchPolicy, Pick, StoreError, TaskRecord};

/// The advisory lock key of dispatch claims ("taskgate" in ASCII). Advisory locks are per
/// database: deployments in other schemas of the same database share it (they only wait
/// on each other's short claims).
pub(super) const CLAIM_LOCK: i64 = 0x7461_736b_6761_7465;

pub(super) async fn claim_dispatch(
    pool: &PgPool,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    policy: &DispatchPolicy,
    pick: Pick<'_>,
) -> Result<Vec<TaskRecord>, StoreError> {
    let mut tx = pool.begin().await.map_err(from_sqlx)?;
    // Released at commit or rollback (a dropped transaction rolls back).
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CLAIM_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
    let claimed = queue::claim::<sqlx::Postgres>(&mut *tx, owner, now, lease, policy, pick).await?;
    tx.commit().await.map_err(from_sqlx)?;
    Ok(claimed)
}
