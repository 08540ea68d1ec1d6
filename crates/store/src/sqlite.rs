//! The SQLite engine: the embedded default. One writer connection (SQLite serializes writes
//! anyway) and a few readers over WAL; every commit is fsynced (`synchronous=FULL`), so a
//! task whose create was answered survives a SIGKILL or a power cut right after.

mod claim;
mod connect;
mod group_commit;
mod idempotency;
mod queue;

#[cfg(test)]
mod tests;

use std::path::Path;

use sqlx::SqlitePool;

use crate::StoreError;

/// Tasks and idempotency keys in an SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every write goes through it, in order.
    writer: SqlitePool,
    /// Reads only; the same pool as `writer` for an in-memory database.
    reader: SqlitePool,
    /// Creates, committed in groups.
    writes: group_commit::Writes,
}

impl SqliteStore {
    /// Opens (creating it, and its parent directories, if missing) the database at `path`
    /// and brings its schema up to date. Opening the same file again is fine.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let (writer, reader) = connect::open_file(path).await?;
        let writes = group_commit::Writes::spawn(writer.clone());
        Ok(SqliteStore {
            writer,
            reader,
            writes,
        })
    }

    /// A private database in memory, gone when the store is dropped (tests).
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let pool = connect::open_memory().await?;
        Ok(SqliteStore {
            writes: group_commit::Writes::spawn(pool.clone()),
            writer: pool.clone(),
            reader: pool,
        })
    }

    /// Waits for in-flight queries and closes every connection (graceful shutdown).
    /// Not needed for durability: each commit is on disk when it returns.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

sql_task_store!(SqliteStore {
    writer: writer,
    reader: reader,
    insert: |store, record| store.writes.insert(record),
    update: |store, record| store.writes.update(record),
    claim_due: claim::TASKS,
    claim_deliveries: claim::DELIVERIES,
    reserve_idempotency: idempotency::reserve,
    claim_dispatch: queue::claim_dispatch,
});
