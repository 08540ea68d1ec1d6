//! Several replicas on one PostgreSQL database: each `PostgresStore` here is a replica with
//! its own pool, all on one schema, racing for the same rows.
// Helpers here are test code too (clippy.toml allows unwrap only inside #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::TimeDelta;
use common::postgres::TestSchema;
use common::*;
use taskgate_core::TaskStatus;
use taskgate_store::{Delivery, PostgresStore, Reservation, StoreError, TaskStore};

const LEASE: Duration = Duration::from_secs(300);
const TTL: Duration = Duration::from_secs(24 * 3600);

/// Claims with `store` in batches of `batch` until nothing is left; returns every id.
async fn claim_all_tasks(store: &PostgresStore, owner: &str, batch: usize) -> Vec<String> {
    let mut claimed = Vec::new();
    loop {
        let got = store.claim_due(owner, at(10), LEASE, batch).await.unwrap();
        assert!(got.len() <= batch);
        if got.is_empty() {
            return claimed;
        }
        for record in got {
            assert_eq!(record.lease_owner.as_deref(), Some(owner));
            claimed.push(record.task.id);
        }
    }
}

/// Every id exactly once across both replicas: union is `expected`, intersection empty.
fn assert_split(a: &[String], b: &[String], expected: &BTreeSet<String>) {
    let a_set: BTreeSet<String> = a.iter().cloned().collect();
    let b_set: BTreeSet<String> = b.iter().cloned().collect();
    assert_eq!(a_set.len(), a.len(), "replica a claimed an item twice");
    assert_eq!(b_set.len(), b.len(), "replica b claimed an item twice");
    let both: Vec<&String> = a_set.intersection(&b_set).collect();
    assert!(both.is_empty(), "claimed by both replicas: {both:?}");
    let union: BTreeSet<String> = a_set.union(&b_set).cloned().collect();
    assert_eq!(&union, expected);
    eprintln!("replica a claimed {}, replica b {}", a.len(), b.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_claiming_at_once_never_get_the_same_task() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    let mut expected = BTreeSet::new();
    for i in 0..200 {
        let id = format!("task_{i:03}");
        a.insert(&record(TENANT, &id, at(i % 7))).await.unwrap();
        expected.insert(id);
    }
    for round in 0..3 {
        if round > 0 {
            // Free every lease for the next round.
            for id in &expected {
                let mut rec = a.get(TENANT, id).await.unwrap().unwrap();
                rec.lease_owner = None;
                rec.lease_until = None;
                a.update(&rec).await.unwrap().unwrap();
            }
        }
        let (from_a, from_b) = tokio::join!(
            tokio::spawn({
                let a = a.clone();
                async move { claim_all_tasks(&a, "replica-a", 7).await }
            }),
            tokio::spawn({
                let b = b.clone();
                async move { claim_all_tasks(&b, "replica-b", 5).await }
            }),
        );
        assert_split(&from_a.unwrap(), &from_b.unwrap(), &expected);
    }
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_claiming_at_once_never_get_the_same_delivery() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    let mut expected = BTreeSet::new();
    for i in 0..100 {
        let rec = record(TENANT, &format!("task_{i:03}"), at(0));
        a.insert(&rec).await.unwrap();
        let mut done = rec.clone();
        done.task.status = TaskStatus::Succeeded;
        done.next_check_at = None;
        let delivery = Delivery {
            id: format!("wh_{i:03}"),
            tenant: TENANT.to_owned(),
            task_id: rec.task.id.clone(),
            url: "https://client.example/hook".to_owned(),
            body: "{}".to_owned(),
            created_at: at(i % 5),
            attempts: 0,
            next_attempt_at: at(i % 5),
            lease_owner: None,
            lease_until: None,
        };
        a.update_with_delivery(&done, &delivery).await.unwrap();
        expected.insert(delivery.id);
    }
    let claim_all = |store: PostgresStore, owner: &'static str| async move {
        let mut claimed = Vec::new();
        loop {
            let got = store.claim_deliveries(owner, at(10), LEASE, 4).await;
            let got = got.unwrap();
            if got.is_empty() {
                return claimed;
            }
            claimed.extend(got.into_iter().map(|d| d.id));
        }
    };
    let (from_a, from_b) = tokio::join!(
        tokio::spawn(claim_all(a.clone(), "replica-a")),
        tokio::spawn(claim_all(b.clone(), "replica-b")),
    );
    assert_split(&from_a.unwrap(), &from_b.unwrap(), &expected);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_reserving_one_key_at_once_reserve_it_once() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    for i in 0..50 {
        let key = format!("key-{i}");
        let (from_a, from_b) = tokio::join!(
            a.reserve_idempotency(TENANT, &key, "hash-a", t0(), TTL),
            b.reserve_idempotency(TENANT, &key, "hash-b", t0(), TTL),
        );
        match (from_a.unwrap(), from_b.unwrap()) {
            (Reservation::Reserved, Reservation::Existing(e)) => {
                assert_eq!(e.request_hash, "hash-a")
            }
            (Reservation::Existing(e), Reservation::Reserved) => {
                assert_eq!(e.request_hash, "hash-b")
            }
            other => panic!("{key}: expected exactly one reservation, got {other:?}"),
        }
    }
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_replacing_one_expired_key_at_once_reserve_it_once() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    let later = t0() + TimeDelta::from_std(TTL).unwrap() + TimeDelta::seconds(1);
    for i in 0..30 {
        let key = format!("key-{i}");
        a.reserve_idempotency(TENANT, &key, "old", t0(), TTL)
            .await
            .unwrap();
        let (from_a, from_b) = tokio::join!(
            a.reserve_idempotency(TENANT, &key, "hash-a", later, TTL),
            b.reserve_idempotency(TENANT, &key, "hash-b", later, TTL),
        );
        let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
        let reserved = [&from_a, &from_b]
            .iter()
            .filter(|r| matches!(r, Reservation::Reserved))
            .count();
        assert_eq!(reserved, 1, "{key}: {from_a:?} / {from_b:?}");
        for answer in [from_a, from_b] {
            if let Reservation::Existing(e) = answer {
                assert_ne!(
                    e.request_hash, "old",
                    "{key}: an expired binding was returned"
                );
                assert_eq!(e.created_at, later);
            }
        }
    }
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_updating_one_version_at_once_succeed_once() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    let mut rec = record(TENANT, "task_1", t0());
    a.insert(&rec).await.unwrap();
    for round in 0..30 {
        let mut from_a = rec.clone();
        from_a.task.status = TaskStatus::Running;
        from_a.lease_owner = Some("replica-a".to_owned());
        let mut from_b = rec.clone();
        from_b.task.status = TaskStatus::Queued;
        from_b.lease_owner = Some("replica-b".to_owned());
        let (won_a, won_b) = tokio::join!(a.update(&from_a), b.update(&from_b));
        let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
        let (winner, version) = match (won_a, won_b) {
            (Some(v), None) => (from_a, v),
            (None, Some(v)) => (from_b, v),
            other => panic!("round {round}: expected one winner, got {other:?}"),
        };
        let stored = b.get(TENANT, "task_1").await.unwrap().unwrap();
        assert_eq!(stored.version, version);
        assert_eq!(stored.lease_owner, winner.lease_owner);
        rec = stored;
    }
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_inserting_one_id_at_once_insert_it_once() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let (a, b) = (schema.store().await, schema.store().await);
    for i in 0..30 {
        let id = format!("task_{i}");
        let (mine, theirs) = (record(TENANT, &id, at(1)), record(OTHER_TENANT, &id, at(2)));
        let (from_a, from_b) = tokio::join!(a.insert(&mine), b.insert(&theirs));
        match (from_a, from_b) {
            (Ok(()), Err(StoreError::Duplicate)) | (Err(StoreError::Duplicate), Ok(())) => {}
            other => panic!("{id}: expected one insert and one duplicate, got {other:?}"),
        }
    }
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_migrating_a_fresh_schema_at_once_all_start() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let url = schema.url();
    let (a, b, c) = tokio::join!(
        PostgresStore::connect(&url),
        PostgresStore::connect(&url),
        PostgresStore::connect(&url),
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let rec = record(TENANT, "task_1", t0());
    a.insert(&rec).await.unwrap();
    assert_eq!(b.get(TENANT, "task_1").await.unwrap(), Some(rec.clone()));
    assert!(matches!(c.insert(&rec).await, Err(StoreError::Duplicate)));
    for store in [a, b, c] {
        store.close().await;
    }
}
