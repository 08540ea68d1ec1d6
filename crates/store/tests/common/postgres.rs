//! A private schema per test in the test PostgreSQL database, so tests run in parallel and
//! again and again without seeing each other's rows. Shared with the gateway's end-to-end
//! tests (the workspace's tests/common includes this file), so both skip or fail alike.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use sqlx::{Connection, PgConnection};
use taskgate_store::PostgresStore;

/// Where the test database is; the default is the local trust-auth server.
pub const URL_ENV: &str = "TASKGATE_TEST_POSTGRES_URL";
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn base_url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with `extra` (`name=value`, already encoded) added to its query string.
pub fn with_param(url: &str, extra: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{extra}")
}

/// Opens a plain connection to the test database. `None`, with a notice, when it cannot be
/// reached; on CI (`CI=true`) that fails the test instead: there the database must be up.
pub async fn admin_connection() -> Option<PgConnection> {
    let url = base_url();
    let error = match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&url)).await {
        Ok(Ok(connection)) => return Some(connection),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL is unreachable (CI=true, so this fails; set {URL_ENV}): {error}");
    }
    eprintln!(
        "notice: PostgreSQL is unreachable ({error}); skipping this test. \
         Set {URL_ENV} to a reachable database to run it."
    );
    None
}

/// A fresh, empty schema; dropped (with everything in it) when this is dropped.
pub struct TestSchema {
    name: String,
}

impl TestSchema {
    /// `None` when PostgreSQL is unreachable and this is not CI (see [`admin_connection`]).
    pub async fn create() -> Option<TestSchema> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "taskgate_test_{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let mut admin = admin_connection().await?;
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        Some(TestSchema { name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The test database's URL, with this schema as the only one on the search path.
    pub fn url(&self) -> String {
        with_param(
            &base_url(),
            &format!("options=-c%20search_path%3D{}", self.name),
        )
    }

    /// A store (a replica) on this schema.
    pub async fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.url()).await.unwrap()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: clean up from a
        // thread of its own. A failure only leaves the schema behind.
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&base_url()).await {
                    // A connection left inside a transaction (a test that did not close its
                    // stores) must not hang the drop: give up, and leave the schema.
                    let _ = sqlx::query("SET lock_timeout = '10s'")
                        .execute(&mut admin)
                        .await;
                    let _ = sqlx::query(&sql).execute(&mut admin).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
