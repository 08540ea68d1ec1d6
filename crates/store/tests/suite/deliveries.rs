//! The webhook outbox: queued with a task's update, leased, finished, in order per task.

use std::time::Duration;

use chrono::{DateTime, Utc};
use taskgate_core::TaskStatus;
use taskgate_store::{Delivery, DeliveryOutcome, TaskRecord, TaskStore};

use crate::common::*;

const LEASE: Duration = Duration::from_secs(30);

fn ids(deliveries: &[Delivery]) -> Vec<&str> {
    deliveries.iter().map(|d| d.id.as_str()).collect()
}

/// A delivery of `task`, due at `due`.
fn delivery(id: &str, task: &TaskRecord, due: DateTime<Utc>) -> Delivery {
    Delivery {
        id: id.to_owned(),
        tenant: task.tenant.clone(),
        task_id: task.task.id.clone(),
        url: "https://client.example/hooks?a=1&b=%2F".to_owned(),
        body: format!(
            "{{\"id\":\"{}\",\"note\":\"ünïcødé \\\"q\\\"\"}}",
            task.task.id
        ),
        created_at: due,
        attempts: 0,
        next_attempt_at: due,
        lease_owner: None,
        lease_until: None,
        event: "task.succeeded".to_owned(),
        seq: 0,
    }
}

/// A delivery of event `event` of `task`, `seq`th in its order, due at `due`.
fn event(id: &str, task: &TaskRecord, event: &str, seq: i64, due: DateTime<Utc>) -> Delivery {
    Delivery {
        event: event.to_owned(),
        seq,
        ..delivery(id, task, due)
    }
}

/// Inserts a task and finishes it with a delivery due at `due`; returns the delivery.
async fn finished_with_delivery(store: &dyn TaskStore, n: i64, due: DateTime<Utc>) -> Delivery {
    let rec = record(TENANT, &format!("task_{n}"), at(n));
    store.insert(&rec).await.unwrap();
    let mut done = rec.clone();
    done.task.status = TaskStatus::Succeeded;
    done.next_check_at = None;
    let queued = delivery(&format!("wh_{n}"), &rec, due);
    let version = store
        .update_with_deliveries(&done, std::slice::from_ref(&queued))
        .await
        .unwrap();
    assert_eq!(version, Some(2));
    queued
}

pub async fn update_with_deliveries_is_compare_and_set(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();
    let mut done = rec.clone();
    done.task.status = TaskStatus::Succeeded;
    done.task.finished_at = Some(at(5));
    done.next_check_at = None;
    let first = delivery("wh_1", &rec, at(5));
    assert_eq!(
        store
            .update_with_deliveries(&done, std::slice::from_ref(&first))
            .await
            .unwrap(),
        Some(2)
    );
    let stored = store.get(TENANT, "task_1").await.unwrap();
    assert_eq!(
        stored,
        Some(TaskRecord {
            version: 2,
            ..done.clone()
        })
    );
    assert_eq!(store.count_unfinished(TENANT).await.unwrap(), 0);

    // A stale version changes nothing and queues nothing.
    let stale = delivery("wh_2", &rec, at(5));
    assert_eq!(
        store.update_with_deliveries(&done, &[stale]).await.unwrap(),
        None
    );

    let claimed = store
        .claim_deliveries("replica-a", at(10), LEASE, 10)
        .await
        .unwrap();
    let leased = Delivery {
        lease_owner: Some("replica-a".to_owned()),
        lease_until: Some(at(40)),
        ..first
    };
    assert_eq!(claimed, [leased]);
}

pub async fn claim_deliveries_leases_once_until_expiry(store: &dyn TaskStore) {
    for n in 0..3 {
        finished_with_delivery(store, n, at(n)).await;
    }
    finished_with_delivery(store, 9, at(60)).await;
    assert!(store
        .claim_deliveries("a", at(10), LEASE, 0)
        .await
        .unwrap()
        .is_empty());

    let first = store.claim_deliveries("a", at(10), LEASE, 2).await.unwrap();
    assert_eq!(ids(&first), ["wh_0", "wh_1"]);
    let second = store.claim_deliveries("a", at(10), LEASE, 2).await.unwrap();
    assert_eq!(ids(&second), ["wh_2"]);
    // At the lease's last instant it is still held; the future one is not due.
    assert!(store
        .claim_deliveries("b", at(40), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    let reclaimed = store
        .claim_deliveries("b", at(41), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&reclaimed), ["wh_0", "wh_1", "wh_2"]);
    for d in &reclaimed {
        assert_eq!(d.lease_owner.as_deref(), Some("b"));
        assert_eq!(d.lease_until, Some(at(71)));
        assert_eq!(d.attempts, 0);
    }
    let due_later = store
        .claim_deliveries("c", at(60), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&due_later), ["wh_9"]);
}

pub async fn finish_delivery_retries_or_ends(store: &dyn TaskStore) {
    for n in 1..=3 {
        finished_with_delivery(store, n, t0()).await;
    }
    let claimed = store.claim_deliveries("a", t0(), LEASE, 10).await.unwrap();
    assert_eq!(ids(&claimed), ["wh_1", "wh_2", "wh_3"]);

    let delivered = DeliveryOutcome::Delivered;
    let retry = DeliveryOutcome::Retry {
        at: at(100),
        error: "answered HTTP 500".to_owned(),
    };
    let failed = DeliveryOutcome::Failed {
        error: "connection failed".to_owned(),
    };
    let [one, two, three] = claimed.as_slice() else {
        panic!("expected three, got {claimed:?}");
    };
    store.finish_delivery(one, &delivered, None).await.unwrap();
    store.finish_delivery(two, &retry, None).await.unwrap();
    store.finish_delivery(three, &failed, None).await.unwrap();
    // Finishing an unknown delivery is a no-op.
    let unknown = Delivery {
        id: "wh_none".to_owned(),
        ..one.clone()
    };
    store
        .finish_delivery(&unknown, &delivered, None)
        .await
        .unwrap();

    // The lease is freed, but the retry is not due before its time.
    assert!(store
        .claim_deliveries("b", at(99), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let retried = store
        .claim_deliveries("b", at(100), LEASE, 10)
        .await
        .unwrap();
    let [again] = retried.as_slice() else {
        panic!("expected one retry, got {retried:?}");
    };
    assert_eq!(again.id, "wh_2");
    assert_eq!(again.attempts, 1);
    assert_eq!(again.next_attempt_at, at(100));
    assert_eq!(again.created_at, t0());
    assert_eq!(again.lease_owner.as_deref(), Some("b"));

    store
        .finish_delivery(again, &delivered, None)
        .await
        .unwrap();
    assert!(store
        .claim_deliveries("c", at(100_000), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A task's events go out one at a time in `seq` order: a later one waits while an earlier
/// one is pending (leased or waiting for its retry), whatever their due times; other
/// tasks' events are not held up.
pub async fn a_tasks_deliveries_go_in_order(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();
    let mut running = rec.clone();
    running.task.status = TaskStatus::Running;
    let started = event("wh_a", &rec, "task.started", 16, at(5));
    let progress = event("wh_b", &rec, "task.progress", 17, at(1));
    store
        .update_with_deliveries(&running, &[started, progress])
        .await
        .unwrap();
    let mut done = running.clone();
    done.version = 2;
    done.task.status = TaskStatus::Succeeded;
    done.next_check_at = None;
    let end = event("wh_c", &rec, "task.succeeded", 24, at(0));
    store.update_with_deliveries(&done, &[end]).await.unwrap();
    let other = finished_with_delivery(store, 7, at(0)).await;

    // wh_b and wh_c are due first, but wh_a comes before them.
    let unblocked = store.claim_deliveries("a", at(4), LEASE, 10).await.unwrap();
    assert_eq!(ids(&unblocked), [other.id.as_str()]);
    let first = store.claim_deliveries("a", at(5), LEASE, 10).await.unwrap();
    assert_eq!(ids(&first), ["wh_a"]);
    assert_eq!(first[0].event, "task.started");
    assert_eq!(first[0].seq, 16);
    // While wh_a is waiting for its retry, nothing of the task goes.
    let retry = DeliveryOutcome::Retry {
        at: at(20),
        error: "answered HTTP 503".to_owned(),
    };
    store
        .finish_delivery(&first[0], &retry, None)
        .await
        .unwrap();
    assert!(store
        .claim_deliveries("a", at(19), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .claim_deliveries("a", at(20), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&again), ["wh_a"]);
    // Given up counts as done: the next one goes.
    let failed = DeliveryOutcome::Failed {
        error: "gave up".to_owned(),
    };
    store
        .finish_delivery(&again[0], &failed, None)
        .await
        .unwrap();
    let second = store
        .claim_deliveries("a", at(21), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&second), ["wh_b"]);
    store
        .finish_delivery(&second[0], &DeliveryOutcome::Delivered, None)
        .await
        .unwrap();
    let third = store
        .claim_deliveries("a", at(21), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&third), ["wh_c"]);
}

/// Finishing a progress delivery with a hold keeps the task's later progress events back
/// until then, those queued already and those queued after; other events are not held.
pub async fn finish_delivery_holds_the_next_progress_back(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();
    let mut running = rec.clone();
    running.task.status = TaskStatus::Running;
    let first = event("wh_a", &rec, "task.progress", 8, at(0));
    let second = event("wh_b", &rec, "task.progress", 16, at(1));
    store
        .update_with_deliveries(&running, &[first, second])
        .await
        .unwrap();
    let claimed = store.claim_deliveries("a", at(1), LEASE, 10).await.unwrap();
    assert_eq!(ids(&claimed), ["wh_a"]);
    store
        .finish_delivery(&claimed[0], &DeliveryOutcome::Delivered, Some(at(9)))
        .await
        .unwrap();
    assert!(store
        .claim_deliveries("a", at(8), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let held = store.claim_deliveries("a", at(9), LEASE, 10).await.unwrap();
    assert_eq!(ids(&held), ["wh_b"]);

    // Given up counts too, and the hold reaches a progress queued after it was set.
    store
        .finish_delivery(
            &held[0],
            &DeliveryOutcome::Failed {
                error: "gave up".to_owned(),
            },
            Some(at(30)),
        )
        .await
        .unwrap();
    let mut later = running.clone();
    later.version = 2;
    let third = event("wh_c", &rec, "task.progress", 24, at(10));
    store
        .update_with_deliveries(&later, &[third])
        .await
        .unwrap();
    assert!(store
        .claim_deliveries("a", at(29), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    // A terminal event is not held.
    let mut done = later.clone();
    done.version = 3;
    done.task.status = TaskStatus::Succeeded;
    let end = event("wh_d", &rec, "task.succeeded", 32, at(10));
    store.update_with_deliveries(&done, &[end]).await.unwrap();
    let progress = store
        .claim_deliveries("a", at(30), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&progress), ["wh_c"]);
    store
        .finish_delivery(&progress[0], &DeliveryOutcome::Delivered, Some(at(60)))
        .await
        .unwrap();
    let last = store
        .claim_deliveries("a", at(31), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&last), ["wh_d"]);
}
