//! The watcher's leases: claim_due.

use std::time::Duration;

use taskgate_core::TaskStatus;
use taskgate_store::{TaskRecord, TaskStore};

use crate::common::*;

const LEASE: Duration = Duration::from_secs(30);

fn ids(records: &[TaskRecord]) -> Vec<&str> {
    records.iter().map(|r| r.task.id.as_str()).collect()
}

pub async fn claim_due_leases_once_until_expiry(store: &dyn TaskStore) {
    for i in 0..3 {
        store
            .insert(&record(TENANT, &format!("task_{i}"), at(i)))
            .await
            .unwrap();
    }
    let claimed = store
        .claim_due("replica-a", at(10), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["task_0", "task_1", "task_2"]);
    for rec in &claimed {
        assert_eq!(rec.lease_owner.as_deref(), Some("replica-a"));
        assert_eq!(rec.lease_until, Some(at(40)));
        assert_eq!(rec.version, 2);
        assert_eq!(
            store.get(TENANT, &rec.task.id).await.unwrap().as_ref(),
            Some(rec)
        );
    }

    assert!(store
        .claim_due("replica-b", at(20), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    // At the lease's last instant it is still held.
    assert!(store
        .claim_due("replica-b", at(40), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    let reclaimed = store
        .claim_due("replica-b", at(41), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&reclaimed), ["task_0", "task_1", "task_2"]);
    for rec in &reclaimed {
        assert_eq!(rec.lease_owner.as_deref(), Some("replica-b"));
        assert_eq!(rec.lease_until, Some(at(71)));
        assert_eq!(rec.version, 3);
    }
}

pub async fn claim_due_skips_finished_and_future_tasks(store: &dyn TaskStore) {
    store
        .insert(&record(TENANT, "task_due", at(0)))
        .await
        .unwrap();
    let mut future = record(TENANT, "task_future", at(0));
    future.next_check_at = Some(at(100));
    store.insert(&future).await.unwrap();
    // Finished, even with a stale next_check_at left behind.
    let mut finished = record_with_status(TENANT, "task_done", at(0), TaskStatus::Succeeded);
    finished.next_check_at = Some(at(0));
    store.insert(&finished).await.unwrap();
    let mut unscheduled = record(TENANT, "task_unscheduled", at(0));
    unscheduled.next_check_at = None;
    store.insert(&unscheduled).await.unwrap();

    let claimed = store.claim_due("w", at(10), LEASE, 10).await.unwrap();
    assert_eq!(ids(&claimed), ["task_due"]);
    let untouched = store.get(TENANT, "task_future").await.unwrap().unwrap();
    assert_eq!(untouched, future);

    // By then task_due's lease has lapsed too.
    let later = store.claim_due("w", at(100), LEASE, 10).await.unwrap();
    assert_eq!(ids(&later), ["task_due", "task_future"]);
}

pub async fn claim_due_takes_the_most_overdue_first_up_to_limit(store: &dyn TaskStore) {
    for i in 0..5 {
        let mut rec = record(TENANT, &format!("task_{i}"), at(i));
        rec.next_check_at = Some(at(10 - i));
        store.insert(&rec).await.unwrap();
    }
    let other = record(OTHER_TENANT, "task_x", at(0));
    store.insert(&other).await.unwrap();
    let first = store.claim_due("w", at(20), LEASE, 2).await.unwrap();
    assert_eq!(ids(&first), ["task_x", "task_4"]);
    let second = store.claim_due("w", at(20), LEASE, 2).await.unwrap();
    assert_eq!(ids(&second), ["task_3", "task_2"]);
    let rest = store.claim_due("w", at(20), LEASE, 10).await.unwrap();
    assert_eq!(ids(&rest), ["task_1", "task_0"]);
    assert!(store
        .claim_due("w", at(20), LEASE, 0)
        .await
        .unwrap()
        .is_empty());
}

pub async fn claimed_record_is_updated_with_its_new_version(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", at(0));
    store.insert(&rec).await.unwrap();
    let claimed = store.claim_due("w", at(10), LEASE, 10).await.unwrap();
    let [mine] = claimed.as_slice() else {
        panic!("expected one claim, got {claimed:?}");
    };
    // A writer holding the pre-claim version lost the race.
    assert_eq!(store.update(&rec).await.unwrap(), None);

    let mut next = mine.clone();
    next.task.status = TaskStatus::Running;
    next.next_check_at = Some(at(15));
    next.lease_owner = None;
    next.lease_until = None;
    assert_eq!(store.update(&next).await.unwrap(), Some(3));
    let again = store.claim_due("w2", at(15), LEASE, 10).await.unwrap();
    assert_eq!(ids(&again), ["task_1"]);
    assert_eq!(again[0].version, 4);
}

/// The lease holder moves its lease without moving the version; nobody else can.
pub async fn extend_lease_keeps_the_version(store: &dyn TaskStore) {
    store.insert(&record(TENANT, "task_1", t0())).await.unwrap();
    let claimed = store
        .claim_due("a", at(1), std::time::Duration::from_secs(30), 10)
        .await
        .unwrap();
    let version = claimed[0].version;
    assert!(store
        .extend_lease(TENANT, "task_1", "a", at(500))
        .await
        .unwrap());
    assert!(!store
        .extend_lease(TENANT, "task_1", "b", at(900))
        .await
        .unwrap());
    assert!(!store
        .extend_lease(OTHER_TENANT, "task_1", "a", at(900))
        .await
        .unwrap());
    let got = store.get(TENANT, "task_1").await.unwrap().unwrap();
    assert_eq!(got.version, version);
    assert_eq!(got.lease_until, Some(at(500)));
    assert!(store
        .claim_due("b", at(499), std::time::Duration::from_secs(30), 10)
        .await
        .unwrap()
        .is_empty());
}
