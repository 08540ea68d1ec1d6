//! Opening the database: connection settings, the pools, and the schema migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::sql::error::{from_migrate, from_sqlx};
use crate::StoreError;

/// The versioned schema, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a query waits for a free connection of its pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Read connections: WAL lets them run beside the writer; a 2-core host gains nothing
/// from more.
const READERS: u32 = 3;

/// Opens `path` (creating it and its parent directories), migrates it, and returns the
/// writer pool (one connection) and the reader pool.
pub(super) async fn open_file(path: &Path) -> Result<(SqlitePool, SqlitePool), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is fsynced before it returns, so an answered create survives a crash.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);

    // One writer: SQLite serializes writes anyway, and queuing them in the pool instead of
    // in the busy handler keeps them in order and never fails a write for lock contention.
    let writer = open_writer(&options).await?;

    let reader = SqlitePoolOptions::new()
        .max_connections(READERS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(from_sqlx)?;
    tracing::info!(path = %path.display(), "sqlite task store open");
    Ok((writer, reader))
}

/// The writer, with the schema migrated. Processes opening one new file at once race for
/// it: switching a connection to WAL, or starting the migration, can answer "database is
/// locked" at once instead of waiting in the busy handler while another one migrates, so
/// such a start is tried again (the others' migration takes well under a second).
async fn open_writer(options: &SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
    let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT * 2;
    let mut pause = Duration::from_millis(20);
    loop {
        let attempt = async {
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await
                .map_err(Start::Connect)?;
            let mut tx = writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(Start::Connect)?;
            MIGRATOR.run(&mut *tx).await.map_err(Start::Migrate)?;
            tx.commit().await.map_err(Start::Connect)?;
            Ok::<_, Start>(writer)
        };
        match attempt.await {
            Ok(writer) => return Ok(writer),
            Err(e) if e.is_busy() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(Start::Connect(e)) => return Err(from_sqlx(e)),
            Err(Start::Migrate(e)) => return Err(from_migrate(e)),
        }
    }
}

/// Why opening the writer failed.
enum Start {
    Connect(sqlx::Error),
    Migrate(sqlx::migrate::MigrateError),
}

impl Start {
    /// SQLITE_BUSY and its extended codes (BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT).
    fn is_busy(&self) -> bool {
        let error = match self {
            Start::Connect(e) | Start::Migrate(sqlx::migrate::MigrateError::Execute(e)) => e,
            Start::Migrate(_) => return false,
        };
        let code = match error {
            sqlx::Error::Database(e) => e.code(),
            _ => None,
        };
        code.and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 5)
    }
}

/// A private in-memory database behind a single connection that is never recycled (the
/// database lives as long as its connection).
pub(super) async fn open_memory() -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str("sqlite::memory:")
        .map_err(from_sqlx)?
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .min_connections(1)
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(from_sqlx)?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Applies the pending migrations holding the write lock throughout, so that two processes
/// opening a new file at once do not both create the schema (sqlx takes no lock on SQLite):
/// the second waits (busy timeout), then finds nothing to do.
async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(from_sqlx)?;
    MIGRATOR.run(&mut *tx).await.map_err(from_migrate)?;
    tx.commit().await.map_err(from_sqlx)
}
