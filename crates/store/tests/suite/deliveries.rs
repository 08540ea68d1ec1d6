//! The webhook outbox: queued with a task's final update, leased, finished.

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
    let version = store.update_with_delivery(&done, &queued).await.unwrap();
    assert_eq!(version, Some(2));
    queued
}

pub async fn update_with_delivery_is_compare_and_set(store: &dyn TaskStore) {
    let rec = record(TENANT, "task_1", t0());
    store.insert(&rec).await.unwrap();
    let mut done = rec.clone();
    done.task.status = TaskStatus::Succeeded;
    done.task.finished_at = Some(at(5));
    done.next_check_at = None;
    let first = delivery("wh_1", &rec, at(5));
    assert_eq!(
        store.update_with_delivery(&done, &first).await.unwrap(),
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
        store.update_with_delivery(&done, &stale).await.unwrap(),
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
    store.finish_delivery("wh_1", &delivered).await.unwrap();
    store.finish_delivery("wh_2", &retry).await.unwrap();
    store.finish_delivery("wh_3", &failed).await.unwrap();
    // Finishing an unknown delivery is a no-op.
    store.finish_delivery("wh_none", &delivered).await.unwrap();

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

    store.finish_delivery("wh_2", &delivered).await.unwrap();
    assert!(store
        .claim_deliveries("c", at(100_000), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}
