//! The gateway's queue (the statements are shared: `crate::sql::queue`). A claim runs on the
//! single writer connection inside `BEGIN IMMEDIATE`: it holds the database's write lock
//! from its first read, so no other write (another claim, a finished task freeing a slot,
//! another process on the file) lands between what it counts and what it takes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::sql::error::from_sqlx;
use crate::sql::queue;
use crate::{DispatchPolicy, Pick, StoreError, TaskRecord};

pub(super) async fn claim_dispatch(
    writer: &SqlitePool,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    policy: &DispatchPolicy,
    pick: Pick<'_>,
) -> Result<Vec<TaskRecord>, StoreError> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(from_sqlx)?;
    let claimed = queue::claim::<sqlx::Sqlite>(&mut *tx, owner, now, lease, policy, pick).await?;
    tx.commit().await.map_err(from_sqlx)?;
    Ok(claimed)
}
