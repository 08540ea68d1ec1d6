//! The SQLite engine on disk: durability across reopen, idempotent migrations, paths.
// Helpers here are test code too (clippy.toml allows unwrap only inside #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use taskgate_store::{SqliteStore, TaskRecord, TaskStore};

#[tokio::test]
async fn accepted_task_survives_a_drop_without_close() {
    let dir = TempDir::new("durable");
    let path = dir.path().join("tasks.db");
    let rec = TaskRecord::new(
        TENANT.to_owned(),
        full_task("task_1"),
        Some("https://h".into()),
    );
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.insert(&rec).await.unwrap();
        // Dropped without close(): nothing is flushed on the way out.
    }
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.get(TENANT, "task_1").await.unwrap(), Some(rec));
}

#[tokio::test]
async fn reopening_after_close_keeps_everything() {
    let dir = TempDir::new("reopen");
    let path = dir.path().join("tasks.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();
    rec.task.status = taskgate_core::TaskStatus::Running;
    rec.version = store.update(&rec).await.unwrap().unwrap();
    store.close().await;

    for _ in 0..2 {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store.get(TENANT, "task_1").await.unwrap(),
            Some(rec.clone())
        );
        store.close().await;
    }
}

#[tokio::test]
async fn two_stores_on_one_file_see_each_others_writes() {
    let dir = TempDir::new("shared");
    let path = dir.path().join("tasks.db");
    // Opened at once on a new file: both migrate, one waits for the other.
    let (a, b, c) = tokio::join!(
        SqliteStore::open(&path),
        SqliteStore::open(&path),
        SqliteStore::open(&path)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    c.unwrap().ping().await.unwrap();
    let rec = record(TENANT, "task_1", t0());
    a.insert(&rec).await.unwrap();
    assert_eq!(b.get(TENANT, "task_1").await.unwrap(), Some(rec.clone()));
    let dup = b.insert(&rec).await;
    assert!(matches!(dup, Err(taskgate_store::StoreError::Duplicate)));
}

#[tokio::test]
async fn open_creates_missing_parent_directories() {
    let dir = TempDir::new("parents");
    let path = dir.path().join("a").join("b").join("tasks.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.ping().await.unwrap();
    assert!(path.is_file());
}

#[tokio::test]
async fn open_fails_cleanly_where_no_file_can_be() {
    let dir = TempDir::new("blocked");
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let opened = SqliteStore::open(&blocker.join("tasks.db")).await;
    assert!(matches!(
        opened,
        Err(taskgate_store::StoreError::Unavailable(_))
    ));
}

/// Set in the child process of `accepted_task_survives_sigkill_right_after_insert`.
const CHILD_DB: &str = "TASKGATE_STORE_TEST_CHILD_DB";

/// A child process inserts, says so, and is SIGKILLed at once; the task must be there.
#[tokio::test]
async fn accepted_task_survives_sigkill_right_after_insert() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let rec = TaskRecord::new(TENANT.to_owned(), full_task("task_k"), None);
    if let Ok(path) = std::env::var(CHILD_DB) {
        let store = SqliteStore::open(std::path::Path::new(&path))
            .await
            .unwrap();
        store.insert(&rec).await.unwrap();
        println!("inserted");
        // Wait to be killed, store still open.
        std::future::pending::<()>().await;
    }

    let dir = TempDir::new("sigkill");
    let path = dir.path().join("tasks.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "accepted_task_survives_sigkill_right_after_insert",
            "--nocapture",
        ])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let said_inserted = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("inserted"));
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(said_inserted, "the child never inserted");

    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.get(TENANT, "task_k").await.unwrap(), Some(rec));
}
