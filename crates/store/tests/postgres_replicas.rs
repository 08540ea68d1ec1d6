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
use sqlx::Connection;
use taskgate_core::TaskStatus;
use taskgate_store::{
    Delivery, DispatchPolicy, Pick, PostgresStore, QueueEntry, QueueState, Reservation, SlotLimit,
    StoreError, TaskRecord, TaskStore,
};

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
            event: "task.succeeded".to_owned(),
            seq: 16,
        };
        a.update_with_deliveries(&done, std::slice::from_ref(&delivery))
            .await
            .unwrap();
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

/// Unfinished tasks holding a slot at `provider` (dispatching or at the provider), counted
/// by the database itself.
async fn slots_in_use(schema: &TestSchema, provider: &str) -> i64 {
    let mut connection = sqlx::PgConnection::connect(&schema.url()).await.unwrap();
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM tasks WHERE provider = $1 \
         AND status NOT IN ('succeeded', 'failed', 'canceled')",
    )
    .bind(provider)
    .fetch_one(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_claiming_dispatch_at_once_never_exceed_a_providers_max() {
    const MAX: u64 = 2;
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let mut replicas = Vec::new();
    for _ in 0..4 {
        replicas.push(schema.store().await);
    }
    let mut unclaimed = BTreeSet::new();
    for i in 0..36 {
        let tenant = ["acme", "globex", "initech"][i % 3];
        let id = format!("task_{i:03}");
        let task = taskgate_core::Task::waiting(
            id.clone(),
            taskgate_core::TaskType::TextToVideo,
            serde_json::Map::new(),
            at(i as i64),
        );
        let mut rec = TaskRecord::new(tenant.to_owned(), task, None);
        rec.queue = Some(QueueEntry {
            state: QueueState::Waiting,
            priority: 0,
            candidates: vec!["p".to_owned()],
            head: false,
            input: "{}".to_owned(),
        });
        replicas[0].insert(&rec).await.unwrap();
        unclaimed.insert((tenant.to_owned(), id));
    }
    let policy = DispatchPolicy {
        slots: [("p".to_owned(), SlotLimit::Max(MAX))].into(),
        weights: [("acme".to_owned(), 3)].into(),
    };
    let mut claimed_ids = BTreeSet::new();
    // Accepted by the provider last round; finished this round.
    let mut running: Vec<TaskRecord> = Vec::new();
    let mut round = 0;
    while !unclaimed.is_empty() {
        round += 1;
        assert!(round < 100, "no progress: {unclaimed:?} left");
        // Every replica claims at once: most in fair order, one for the newest task by name.
        let (tenant, id) = unclaimed.iter().next_back().cloned().unwrap();
        let claims = replicas.iter().enumerate().map(|(n, store)| {
            let (store, policy) = (store.clone(), policy.clone());
            let (tenant, id) = (tenant.clone(), id.clone());
            tokio::spawn(async move {
                let owner = format!("replica-{n}");
                let pick = if n == 3 {
                    Pick::Task {
                        tenant: &tenant,
                        id: &id,
                    }
                } else {
                    Pick::Fair { limit: 3 }
                };
                store
                    .claim_dispatch(&owner, at(100 + round), LEASE, &policy, pick)
                    .await
                    .unwrap()
            })
        });
        let mut claimed = Vec::new();
        for claim in claims.collect::<Vec<_>>() {
            claimed.extend(claim.await.unwrap());
        }
        let in_use = slots_in_use(&schema, "p").await;
        assert!(in_use <= MAX as i64, "round {round}: {in_use} slots in use");
        let free_before = MAX as usize - running.len();
        assert_eq!(
            claimed.len(),
            free_before.min(unclaimed.len()),
            "round {round}: {free_before} free slots"
        );
        for rec in &claimed {
            assert!(
                claimed_ids.insert(rec.task.id.clone()),
                "{} claimed twice",
                rec.task.id
            );
            assert!(unclaimed.remove(&(rec.tenant.clone(), rec.task.id.clone())));
            assert_eq!(rec.slot_provider(), Some("p"));
        }
        // Last round's running tasks finish; of this round's, one stays at the provider.
        for rec in running.drain(..) {
            let mut done = rec.clone();
            done.task.status = TaskStatus::Succeeded;
            done.next_check_at = None;
            replicas[1].update(&done).await.unwrap().unwrap();
        }
        for (n, rec) in claimed.into_iter().enumerate() {
            let mut accepted = rec.clone();
            accepted.queue = None;
            accepted.task.provider = Some("p".to_owned());
            accepted.task.provider_task_id = Some(format!("up-{}", rec.task.id));
            accepted.lease_owner = None;
            accepted.lease_until = None;
            if n == 0 {
                accepted.task.status = TaskStatus::Running;
                let version = replicas[2].update(&accepted).await.unwrap().unwrap();
                running.push(TaskRecord {
                    version,
                    ..accepted
                });
            } else {
                accepted.task.status = TaskStatus::Succeeded;
                accepted.next_check_at = None;
                replicas[2].update(&accepted).await.unwrap().unwrap();
            }
        }
    }
    assert_eq!(claimed_ids.len(), 36);
    for store in replicas {
        store.close().await;
    }
}
