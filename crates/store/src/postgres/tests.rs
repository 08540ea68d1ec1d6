//! What only the PostgreSQL engine can be asked: its SQL, its plans, its damaged rows.
//! Each test works in a schema of its own in the test database (`TASKGATE_TEST_POSTGRES_URL`,
//! default the local server); unreachable, the tests pass with a notice, except on CI.

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Connection, PgConnection};
use taskgate_core::TaskStatus;

use super::PostgresStore;
use crate::{StoreError, TaskRecord, TaskStore};

const MIGRATION: &str = include_str!("../../migrations/postgres/0001_init.sql");
const QUEUE_MIGRATION: &str = include_str!("../../migrations/postgres/0004_queue.sql");

fn base_url() -> String {
    std::env::var("TASKGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A store in a fresh schema, and the schema's name (dropped by [`drop_schema`]).
async fn store() -> Option<(PostgresStore, String)> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let mut admin = match PgConnection::connect(&base_url()).await {
        Ok(admin) => admin,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL is unreachable on CI: {e}")
        }
        Err(e) => {
            eprintln!("notice: PostgreSQL is unreachable ({e}); skipping this test");
            return None;
        }
    };
    let schema = format!(
        "taskgate_unit_{}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!(
        "{}{}options=-c%20search_path%3D{schema}",
        base_url(),
        if base_url().contains('?') { '&' } else { '?' }
    );
    Some((PostgresStore::connect(&url).await.unwrap(), schema))
}

async fn drop_schema(store: PostgresStore, schema: &str) {
    store.close().await;
    let mut admin = PgConnection::connect(&base_url()).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .unwrap();
}

fn record(id: &str) -> TaskRecord {
    let task = taskgate_core::Task::accepted(
        id.to_owned(),
        taskgate_core::TaskType::TextToImage,
        "makevid".to_owned(),
        "up-1".to_owned(),
        serde_json::Map::new(),
        chrono::Utc::now(),
    );
    TaskRecord::new("acme".to_owned(), task, None)
}

#[test]
fn unfinished_is_spelled_as_in_the_partial_indexes() {
    assert_eq!(
        MIGRATION.matches(concat!("WHERE ", unfinished!())).count(),
        2
    );
    assert_eq!(
        QUEUE_MIGRATION
            .matches(concat!("WHERE ", unfinished!()))
            .count(),
        1
    );
    for status in TaskStatus::ALL {
        let listed = unfinished!().contains(&format!("'{status}'"));
        assert_eq!(listed, status.is_terminal(), "{status}");
    }
}

/// The plan of `query` (whose parameters are bound), with sequential scans, bitmap scans and
/// sorts priced out so that an index that can serve the query is chosen even for a
/// handful of rows.
async fn plan<'q>(
    connection: &mut PgConnection,
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> String {
    let rows: Vec<(String,)> = sqlx::query_as_with(
        &format!("EXPLAIN {}", sqlx::Execute::sql(&query)),
        sqlx::Execute::take_arguments(&mut { query })
            .unwrap()
            .unwrap_or_default(),
    )
    .fetch_all(&mut *connection)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn queries_use_their_indexes() {
    let Some((store, schema)) = store().await else {
        return;
    };
    let mut connection = store.pool.acquire().await.unwrap();
    for setting in ["enable_seqscan", "enable_bitmapscan", "enable_sort"] {
        sqlx::query(&format!("SET {setting} = off"))
            .execute(&mut *connection)
            .await
            .unwrap();
    }
    let cursor = crate::Cursor {
        created_at: chrono::Utc::now(),
        id: "task_x".to_owned(),
    };
    let mut page = crate::ListQuery {
        status: None,
        limit: 5,
        after: Some(cursor),
    };
    let sql = crate::sql::tasks::list_statement(&page);
    let list = crate::sql::tasks::list_query(&sql, "acme", &page);
    let list = plan(&mut connection, list).await;
    assert!(list.contains("tasks_tenant_created"), "{list}");
    assert!(!list.contains("Sort"), "{list}");

    page.status = Some(TaskStatus::Running);
    let sql = crate::sql::tasks::list_statement(&page);
    let by_status = crate::sql::tasks::list_query(&sql, "acme", &page);
    let by_status = plan(&mut connection, by_status).await;
    assert!(
        by_status.contains("tasks_tenant_status_created"),
        "{by_status}"
    );
    assert!(!by_status.contains("Sort"), "{by_status}");

    let count = sqlx::query(crate::sql::tasks::COUNT_UNFINISHED).bind("acme");
    let count = plan(&mut connection, count).await;
    assert!(count.contains("tasks_tenant_unfinished"), "{count}");

    let claim = sqlx::query(super::claim::TASKS)
        .bind("w")
        .bind(2_i64)
        .bind(1_i64)
        .bind(10_i64);
    let claim = plan(&mut connection, claim).await;
    assert!(claim.contains("tasks_due"), "{claim}");
    assert!(claim.contains("LockRows"), "{claim}");
    assert!(!claim.contains("Sort"), "{claim}");

    let deliveries = sqlx::query(super::claim::DELIVERIES)
        .bind("w")
        .bind(2_i64)
        .bind(1_i64)
        .bind(10_i64);
    let deliveries = plan(&mut connection, deliveries).await;
    assert!(deliveries.contains("deliveries_due"), "{deliveries}");
    assert!(deliveries.contains("LockRows"), "{deliveries}");

    let waiting = sqlx::query(crate::sql::queue::WAITING)
        .bind(1_i64)
        .bind(10_i64);
    let waiting = plan(&mut connection, waiting).await;
    assert!(waiting.contains("tasks_waiting"), "{waiting}");
    let ahead = sqlx::query(crate::sql::queue::AHEAD)
        .bind("[\"a\"]")
        .bind(1_i64)
        .bind("task_x")
        .bind("acme")
        .bind(0_i64);
    let ahead = plan(&mut connection, ahead).await;
    assert!(ahead.contains("tasks_queued"), "{ahead}");
    let running = format!("{}$1, $2) GROUP BY provider", crate::sql::queue::RUNNING);
    let running = sqlx::query(&running).bind("a").bind("b");
    let running = plan(&mut connection, running).await;
    assert!(running.contains("tasks_provider_unfinished"), "{running}");
    drop(connection);
    drop_schema(store, &schema).await;
}

#[tokio::test]
async fn an_unreadable_body_is_corrupt() {
    let Some((store, schema)) = store().await else {
        return;
    };
    store.insert(&record("task_1")).await.unwrap();
    store.insert(&record("task_2")).await.unwrap();
    sqlx::query(
        "UPDATE tasks SET body = '{\"id\": \"task_1\", \"status\": 5}' WHERE id = 'task_1'",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE tasks SET body = replace(body, 'task_2', 'task_3') WHERE id = 'task_2'")
        .execute(&store.pool)
        .await
        .unwrap();
    let broken = store.get("acme", "task_1").await;
    assert!(matches!(broken, Err(StoreError::Corrupt(_))), "{broken:?}");
    let mismatched = store.get("acme", "task_2").await;
    assert!(
        matches!(mismatched, Err(StoreError::Corrupt(_))),
        "{mismatched:?}"
    );
    drop_schema(store, &schema).await;
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let Some((store, schema)) = store().await else {
        return;
    };
    store.close().await;
    let answer = store.ping().await;
    assert!(
        matches!(answer, Err(StoreError::Unavailable(_))),
        "{answer:?}"
    );
    drop_schema(store, &schema).await;
}

#[tokio::test]
async fn the_pool_is_small() {
    let Some((store, schema)) = store().await else {
        return;
    };
    assert_eq!(store.pool.options().get_max_connections(), 8);
    drop_schema(store, &schema).await;
}
