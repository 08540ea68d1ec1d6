//! What only the SQLite engine can be asked: its SQL, its plans, its damaged rows.

use taskgate_core::TaskStatus;

use super::SqliteStore;
use crate::{StoreError, TaskRecord, TaskStore};

const MIGRATION: &str = include_str!("../../migrations/sqlite/0001_init.sql");
const QUEUE_MIGRATION: &str = include_str!("../../migrations/sqlite/0004_queue.sql");

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

async fn plan(store: &SqliteStore, sql: &str) -> String {
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
        .fetch_all(&store.reader)
        .await
        .unwrap();
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
}

#[tokio::test]
async fn queries_use_their_indexes() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let list = plan(
        &store,
        "SELECT id FROM tasks WHERE tenant = 'a' AND (created_at, id) < (1, 'x') \
         ORDER BY created_at DESC, id DESC LIMIT 5",
    )
    .await;
    assert!(list.contains("tasks_tenant_created"), "{list}");
    assert!(!list.contains("TEMP B-TREE"), "{list}");

    let by_status = plan(
        &store,
        "SELECT id FROM tasks WHERE tenant = 'a' AND status = 'running' \
         AND (created_at, id) < (1, 'x') \
         ORDER BY created_at DESC, id DESC LIMIT 5",
    )
    .await;
    assert!(
        by_status.contains("tasks_tenant_status_created"),
        "{by_status}"
    );
    assert!(!by_status.contains("TEMP B-TREE"), "{by_status}");

    let count = plan(&store, crate::sql::tasks::COUNT_UNFINISHED).await;
    assert!(count.contains("tasks_tenant_unfinished"), "{count}");

    let claim = plan(&store, super::claim::TASKS).await;
    assert!(claim.contains("tasks_due"), "{claim}");
    assert!(!claim.contains("TEMP B-TREE"), "{claim}");

    let waiting = plan(&store, crate::sql::queue::WAITING).await;
    assert!(waiting.contains("tasks_waiting"), "{waiting}");
    // The window reads the index in its order; only the few rows it keeps are sorted.
    assert_eq!(waiting.matches("TEMP B-TREE").count(), 1, "{waiting}");
    let ahead = plan(&store, crate::sql::queue::AHEAD).await;
    assert!(ahead.contains("tasks_queued"), "{ahead}");
    let running = plan(
        &store,
        &format!("{}'a', 'b') GROUP BY provider", crate::sql::queue::RUNNING),
    )
    .await;
    assert!(running.contains("tasks_provider_unfinished"), "{running}");
}

#[tokio::test]
async fn an_unreadable_body_is_corrupt() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.insert(&record("task_1")).await.unwrap();
    store.insert(&record("task_2")).await.unwrap();
    sqlx::query(
        "UPDATE tasks SET body = '{\"id\": \"task_1\", \"status\": 5}' WHERE id = 'task_1'",
    )
    .execute(&store.writer)
    .await
    .unwrap();
    sqlx::query("UPDATE tasks SET body = replace(body, 'task_2', 'task_3') WHERE id = 'task_2'")
        .execute(&store.writer)
        .await
        .unwrap();
    let broken = store.get("acme", "task_1").await;
    assert!(matches!(broken, Err(StoreError::Corrupt(_))), "{broken:?}");
    let mismatched = store.get("acme", "task_2").await;
    assert!(
        matches!(mismatched, Err(StoreError::Corrupt(_))),
        "{mismatched:?}"
    );
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store.close().await;
    let answer = store.ping().await;
    assert!(
        matches!(answer, Err(StoreError::Unavailable(_))),
        "{answer:?}"
    );
}

async fn pragma(pool: &sqlx::SqlitePool, name: &str) -> String {
    use sqlx::Row;
    let row = sqlx::query(&format!("PRAGMA {name}"))
        .fetch_one(pool)
        .await
        .unwrap();
    match row.try_get::<i64, _>(0) {
        Ok(n) => n.to_string(),
        Err(_) => row.try_get::<String, _>(0).unwrap(),
    }
}

#[tokio::test]
async fn file_connections_are_durable_and_patient() {
    let dir = std::env::temp_dir().join(format!(
        "taskgate-store-pragmas-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let store = SqliteStore::open(&dir.join("tasks.db")).await.unwrap();
    for pool in [&store.writer, &store.reader] {
        assert_eq!(pragma(pool, "journal_mode").await, "wal");
        assert_eq!(pragma(pool, "synchronous").await, "2", "FULL");
        assert_eq!(pragma(pool, "foreign_keys").await, "1");
        assert_eq!(pragma(pool, "busy_timeout").await, "5000");
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
