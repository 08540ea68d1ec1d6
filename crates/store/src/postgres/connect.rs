//! Connecting: the pool, and the schema migrations, safe when several replicas start at once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::sql::error::from_migrate;
use crate::StoreError;

/// The versioned schema, embedded at compile time.
///
/// sqlx's migrator holds a session-level `pg_advisory_lock` (keyed on the database name)
/// while it checks and applies migrations, so replicas starting together migrate one after
/// another and the later ones find nothing to do.
///
/// Migrations the database has and this build does not know are allowed: during a rolling
/// upgrade an older replica may start after a newer one migrated. That holds only while
/// every migration is additive (new tables, columns with defaults, indexes), which is the
/// rule for this folder. An edited migration is still refused (checksum mismatch).
static MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations/postgres")
};

/// Enough for a replica's request handlers, watcher and webhook sender; the database's
/// connection limit is shared by every replica.
const MAX_CONNECTIONS: u32 = 8;

/// How long a query waits for a free connection (or for a new one to open).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the pool (one connection at once, so a wrong URL fails here), then migrates.
pub(super) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        // The parser's messages name the faulty part, never the URL itself.
        let reason = match e {
            sqlx::Error::Configuration(reason) => reason.to_string(),
            other => other.to_string(),
        };
        StoreError::Unavailable(format!("invalid PostgreSQL connection URL: {reason}"))
    })?;
    // Where, without who: the user name and password stay out of messages and logs.
    let server = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {server}: {e}"))
        })?;
    if let Err(e) = MIGRATOR.run(&pool).await {
        // A failed run can leave the migration lock held by its session: end the sessions,
        // which frees it, before another replica waits on it forever.
        pool.close().await;
        return Err(from_migrate(e));
    }
    tracing::info!(%server, "postgres task store open");
    Ok(pool)
}
