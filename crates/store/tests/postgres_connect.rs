//! Connecting to PostgreSQL: migrations across restarts and versions, and errors that never
//! give the connection URL (or its password) away.
// Helpers here are test code too (clippy.toml allows unwrap only inside #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::postgres::{admin_connection, base_url, with_param, TestSchema};
use common::*;
use sqlx::Connection;
use taskgate_store::{PostgresStore, StoreError, TaskRecord, TaskStore};

const PASSWORD: &str = "pw-Sup3rSecret";

/// The test database's URL with `user:PASSWORD` as its credentials.
fn url_with_credentials(user: &str) -> String {
    let base = base_url();
    let (scheme, rest) = base.split_once("://").unwrap();
    let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    format!("{scheme}://{user}:{PASSWORD}@{host_and_path}")
}

/// The message of a failed connect, which must not show the URL or the password.
async fn connect_error(url: &str) -> String {
    let error = match PostgresStore::connect(url).await {
        Ok(_) => panic!("connected to a URL that should fail"),
        Err(StoreError::Unavailable(message)) => message,
        Err(other) => panic!("expected Unavailable, got {other:?}"),
    };
    assert!(!error.contains(PASSWORD), "{error}");
    assert!(!error.contains(url), "{error}");
    error
}

async fn migrations_applied(schema: &TestSchema) -> Vec<i64> {
    let mut admin = admin_connection().await.unwrap();
    let sql = format!(
        "SELECT version FROM {}._sqlx_migrations WHERE success ORDER BY version",
        schema.name()
    );
    let versions: Vec<(i64,)> = sqlx::query_as(&sql).fetch_all(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    versions.into_iter().map(|v| v.0).collect()
}

async fn execute(schema: &TestSchema, sql: &str) {
    let mut admin = admin_connection().await.unwrap();
    let sql = sql.replace("{schema}", schema.name());
    sqlx::query(&sql).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
}

#[tokio::test]
async fn reconnecting_keeps_everything_and_migrates_nothing_again() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let store = schema.store().await;
    let rec = TaskRecord::new(TENANT.to_owned(), full_task("task_1"), None);
    store.insert(&rec).await.unwrap();
    store.close().await;
    assert_eq!(migrations_applied(&schema).await, [1, 2, 3, 4, 5, 6]);

    for _ in 0..2 {
        let again = schema.store().await;
        assert_eq!(
            again.get(TENANT, "task_1").await.unwrap(),
            Some(rec.clone())
        );
        again.close().await;
    }
    assert_eq!(migrations_applied(&schema).await, [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn an_older_replica_starts_after_a_newer_one_migrated() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    schema.store().await.close().await;
    // A newer build's migration, unknown to this one (a rolling upgrade).
    execute(
        &schema,
        "INSERT INTO {schema}._sqlx_migrations \
         (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a newer build', true, '\\x00', 0)",
    )
    .await;
    let older = schema.store().await;
    older.ping().await.unwrap();
    older.close().await;
}

#[tokio::test]
async fn an_edited_migration_is_refused_and_frees_the_migration_lock() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    schema.store().await.close().await;
    execute(
        &schema,
        "UPDATE {schema}._sqlx_migrations SET checksum = '\\x00' WHERE version = 2",
    )
    .await;
    let error = connect_error(&schema.url()).await;
    assert!(error.contains("migration"), "{error}");

    // The failed run held the advisory lock; the next replica must not wait on it forever.
    let Some(other) = TestSchema::create().await else {
        return;
    };
    let next = tokio::time::timeout(Duration::from_secs(20), other.store())
        .await
        .expect("a failed migration left its lock behind");
    next.close().await;
}

#[tokio::test]
async fn errors_never_show_the_url_or_its_password() {
    let Some(_schema) = TestSchema::create().await else {
        return;
    };
    // The server refuses this role (no such role, whatever the password).
    let refused = connect_error(&url_with_credentials("taskgate_no_such_role")).await;
    assert!(refused.contains("taskgate_no_such_role"), "{refused}");

    // No such database.
    let url = url_with_credentials("postgres");
    let (server, _) = url.rsplit_once('/').unwrap();
    connect_error(&format!("{server}/taskgate_no_such_database")).await;

    // Unparseable URLs.
    connect_error(&format!("postgres://u:{PASSWORD}@127.0.0.1:notaport/test")).await;
    connect_error(&format!(
        "postgres://u:{PASSWORD}@127.0.0.1/test?sslmode=sometimes"
    ))
    .await;
    connect_error(&format!("not a url {PASSWORD}")).await;
}

#[tokio::test]
async fn nothing_listening_is_unavailable_without_the_password() {
    // Port 1 on loopback: refused at once. No database needed.
    let url = format!("postgres://u:{PASSWORD}@127.0.0.1:1/test");
    let error = tokio::time::timeout(Duration::from_secs(30), connect_error(&url))
        .await
        .unwrap();
    assert!(!error.is_empty());
}

#[tokio::test]
async fn a_store_debug_shows_no_password() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    // Trust authentication ignores the password; an installation that checks passwords
    // needs the right one in TASKGATE_TEST_POSTGRES_URL, and then this test only checks
    // that the store does not print it.
    let url = with_param(
        &url_with_credentials("postgres"),
        &format!("options=-c%20search_path%3D{}", schema.name()),
    );
    let Ok(store) = PostgresStore::connect(&url).await else {
        return;
    };
    let shown = format!("{store:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("max_connections: 8"), "{shown}");
    store.close().await;
}

#[tokio::test]
async fn a_nul_in_task_metadata_round_trips() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let store = schema.store().await;
    let mut task = full_task("task_nul");
    task.metadata
        .insert("nul".to_owned(), serde_json::json!("a\u{0}b"));
    let rec = TaskRecord::new(TENANT.to_owned(), task, None);
    store.insert(&rec).await.unwrap();
    assert_eq!(store.get(TENANT, "task_nul").await.unwrap(), Some(rec));
    store.close().await;
}
