//! Insert, get, compare-and-set update, the task JSON round trip, ping.

use std::time::Duration;

use chrono::TimeDelta;
use taskgate_core::{Event, EventSet, Progress, TaskStatus};
use taskgate_store::{OutputsCopy, StoreError, TaskRecord, TaskStore};

use crate::common::*;

pub async fn insert_then_get_returns_the_record(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();
    let got = store.get(TENANT, "task_1").await.unwrap();
    assert_eq!(got, Some(rec.clone()));
    assert_eq!(rec.version, 1);
    assert_eq!(rec.next_check_at, Some(t0()));
}

pub async fn full_record_round_trips_exactly(store: &dyn TaskStore) {
    let mut rec = TaskRecord::new(
        TENANT.to_owned(),
        full_task("task_full"),
        Some("https://client.internal/hooks/taskgate?a=1".to_owned()),
    );
    rec.version = 7;
    rec.refreshed_at = Some(t0() + TimeDelta::nanoseconds(1));
    rec.next_check_at = Some(t0() + TimeDelta::nanoseconds(999_999_999));
    rec.lease_owner = Some("replica-a".to_owned());
    rec.lease_until = Some(t0() + TimeDelta::nanoseconds(30_000_000_003));
    rec.callback_events = EventSet::of(&[Event::Started, Event::Progress, Event::Failed]);
    rec.progress_event_at = Some(t0() + TimeDelta::nanoseconds(5));
    let mut finished = full_task("task_full");
    finished.status = TaskStatus::Succeeded;
    finished.outputs[0].sha256 = Some("ab".repeat(32));
    finished.outputs[0].stored = Some(true);
    rec.outputs_copy = Some(OutputsCopy {
        finished,
        attempts: 2,
    });
    store.insert(&rec).await.unwrap();

    let got = store.get(TENANT, "task_full").await.unwrap().unwrap();
    assert_eq!(got, rec);
    assert_eq!(
        serde_json::to_string(&got.task).unwrap(),
        serde_json::to_string(&rec.task).unwrap()
    );
}

pub async fn get_is_tenant_scoped(store: &dyn TaskStore) {
    store.insert(&record(TENANT, "task_1", t0())).await.unwrap();
    assert_eq!(store.get(OTHER_TENANT, "task_1").await.unwrap(), None);
    assert_eq!(store.get(TENANT, "task_unknown").await.unwrap(), None);
}

pub async fn insert_of_a_taken_id_is_duplicate(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();
    let again = store.insert(&record(TENANT, "task_1", at(5))).await;
    assert!(matches!(again, Err(StoreError::Duplicate)), "{again:?}");
    let elsewhere = store.insert(&record(OTHER_TENANT, "task_1", at(5))).await;
    assert!(
        matches!(elsewhere, Err(StoreError::Duplicate)),
        "{elsewhere:?}"
    );
    assert_eq!(store.get(TENANT, "task_1").await.unwrap(), Some(rec));
    assert_eq!(store.get(OTHER_TENANT, "task_1").await.unwrap(), None);
}

pub async fn update_is_compare_and_set(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();

    let mut running = rec.clone();
    running.task.status = TaskStatus::Running;
    running.task.progress = Progress::new(0.45);
    running.task.updated_at = at(9);
    running.refreshed_at = Some(at(9));
    running.next_check_at = Some(at(14));
    assert_eq!(store.update(&running).await.unwrap(), Some(2));
    // The same version again is stale now.
    assert_eq!(store.update(&running).await.unwrap(), None);

    let stored = store.get(TENANT, "task_1").await.unwrap().unwrap();
    assert_eq!(
        stored,
        TaskRecord {
            version: 2,
            ..running
        }
    );
}

pub async fn update_keeps_queried_fields_in_sync(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();
    assert_eq!(store.count_unfinished(TENANT).await.unwrap(), 1);

    let mut done = rec.clone();
    done.task.status = TaskStatus::Succeeded;
    done.task.finished_at = Some(at(30));
    done.next_check_at = None;
    assert_eq!(store.update(&done).await.unwrap(), Some(2));

    assert_eq!(store.count_unfinished(TENANT).await.unwrap(), 0);
    let due = store.claim_due("w", at(3600), Duration::from_secs(30), 10);
    assert!(due.await.unwrap().is_empty());
    let listed = store
        .list(TENANT, &by_status(TaskStatus::Succeeded))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(store
        .list(TENANT, &by_status(TaskStatus::Queued))
        .await
        .unwrap()
        .is_empty());
}

pub async fn update_of_another_tenants_task_is_none(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();
    let mut foreign = rec.clone();
    foreign.tenant = OTHER_TENANT.to_owned();
    foreign.task.status = TaskStatus::Canceled;
    assert_eq!(store.update(&foreign).await.unwrap(), None);
    assert_eq!(store.get(TENANT, "task_1").await.unwrap(), Some(rec));
    assert_eq!(store.get(OTHER_TENANT, "task_1").await.unwrap(), None);
}

pub async fn update_of_an_unknown_task_is_none(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_never", t0());
    assert_eq!(store.update(&rec).await.unwrap(), None);
    assert_eq!(store.get(TENANT, "task_never").await.unwrap(), None);
}

pub async fn ping_answers(store: &dyn TaskStore) {
    store.ping().await.unwrap();
}

fn by_status(status: TaskStatus) -> taskgate_store::ListQuery {
    taskgate_store::ListQuery {
        status: Some(status),
        limit: 100,
        after: None,
    }
}

/// The first candidate for a secret is kept; later callers (other replicas) get it.
pub async fn a_shared_secret_is_the_first_candidate(store: &dyn TaskStore) {
    let first = store.shared_secret("files", "aaaa").await.unwrap();
    assert_eq!(first, "aaaa");
    assert_eq!(store.shared_secret("files", "bbbb").await.unwrap(), "aaaa");
    assert_eq!(store.shared_secret("other", "cccc").await.unwrap(), "cccc");
}
