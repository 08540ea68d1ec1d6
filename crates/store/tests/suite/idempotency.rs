//! Idempotency keys: reserve, existing, complete, release, expiry, tenant scope.

use std::time::Duration;

use chrono::TimeDelta;
use taskgate_store::{IdempotencyEntry, Reservation, TaskStore};

use crate::common::*;

const TTL: Duration = Duration::from_secs(24 * 3600);

pub async fn reserve_then_existing_then_complete(store: &dyn TaskStore) {
    let first = store
        .reserve_idempotency(TENANT, "k1", "hash-a", t0(), TTL)
        .await;
    assert_eq!(first.unwrap(), Reservation::Reserved);

    let pending = store
        .reserve_idempotency(TENANT, "k1", "hash-b", at(1), TTL)
        .await;
    let entry = IdempotencyEntry {
        request_hash: "hash-a".to_owned(),
        task_id: None,
        created_at: t0(),
    };
    assert_eq!(pending.unwrap(), Reservation::Existing(entry.clone()));

    store
        .complete_idempotency(TENANT, "k1", "task_1")
        .await
        .unwrap();
    let done = store
        .reserve_idempotency(TENANT, "k1", "hash-a", at(2), TTL)
        .await;
    let completed = IdempotencyEntry {
        task_id: Some("task_1".to_owned()),
        ..entry
    };
    assert_eq!(done.unwrap(), Reservation::Existing(completed));
}

pub async fn release_frees_the_key(store: &dyn TaskStore) {
    let first = store
        .reserve_idempotency(TENANT, "k1", "hash-a", t0(), TTL)
        .await;
    assert_eq!(first.unwrap(), Reservation::Reserved);
    store.release_idempotency(TENANT, "k1").await.unwrap();
    let again = store
        .reserve_idempotency(TENANT, "k1", "hash-b", at(1), TTL)
        .await;
    assert_eq!(again.unwrap(), Reservation::Reserved);
    let held = store
        .reserve_idempotency(TENANT, "k1", "hash-c", at(2), TTL)
        .await;
    assert!(matches!(held.unwrap(), Reservation::Existing(e) if e.request_hash == "hash-b"));
}

pub async fn expired_key_counts_as_absent(store: &dyn TaskStore) {
    let ttl = TimeDelta::from_std(TTL).unwrap();
    store
        .reserve_idempotency(TENANT, "k1", "hash-a", t0(), TTL)
        .await
        .unwrap();
    store
        .complete_idempotency(TENANT, "k1", "task_1")
        .await
        .unwrap();

    let at_ttl = store
        .reserve_idempotency(TENANT, "k1", "hash-b", t0() + ttl, TTL)
        .await;
    assert!(matches!(at_ttl.unwrap(), Reservation::Existing(_)));

    let later = t0() + ttl + TimeDelta::nanoseconds(1);
    let after_ttl = store
        .reserve_idempotency(TENANT, "k1", "hash-b", later, TTL)
        .await;
    assert_eq!(after_ttl.unwrap(), Reservation::Reserved);
    let now_held = store
        .reserve_idempotency(TENANT, "k1", "hash-c", later, TTL)
        .await;
    let entry = IdempotencyEntry {
        request_hash: "hash-b".to_owned(),
        task_id: None,
        created_at: later,
    };
    assert_eq!(now_held.unwrap(), Reservation::Existing(entry));
}

pub async fn expired_keys_of_others_are_purged_without_harm(store: &dyn TaskStore) {
    let ttl = TimeDelta::from_std(TTL).unwrap();
    for i in 0..150 {
        let key = format!("old-{i}");
        store
            .reserve_idempotency(OTHER_TENANT, &key, "h", t0(), TTL)
            .await
            .unwrap();
    }
    store
        .reserve_idempotency(OTHER_TENANT, "fresh", "h", t0() + ttl, TTL)
        .await
        .unwrap();
    let later = t0() + ttl + TimeDelta::seconds(1);
    let reserved = store
        .reserve_idempotency(TENANT, "k1", "h", later, TTL)
        .await;
    assert_eq!(reserved.unwrap(), Reservation::Reserved);
    // Unexpired keys survive any purge.
    let fresh = store
        .reserve_idempotency(OTHER_TENANT, "fresh", "h2", later, TTL)
        .await;
    assert!(matches!(fresh.unwrap(), Reservation::Existing(e) if e.request_hash == "h"));
    // Expired ones are absent, purged yet or not.
    let old = store
        .reserve_idempotency(OTHER_TENANT, "old-149", "h3", later, TTL)
        .await;
    assert_eq!(old.unwrap(), Reservation::Reserved);
}

pub async fn keys_are_per_tenant(store: &dyn TaskStore) {
    let mine = store
        .reserve_idempotency(TENANT, "k1", "hash-a", t0(), TTL)
        .await;
    assert_eq!(mine.unwrap(), Reservation::Reserved);
    let theirs = store
        .reserve_idempotency(OTHER_TENANT, "k1", "hash-b", t0(), TTL)
        .await;
    assert_eq!(theirs.unwrap(), Reservation::Reserved);
    store
        .complete_idempotency(OTHER_TENANT, "k1", "task_9")
        .await
        .unwrap();
    store.release_idempotency(OTHER_TENANT, "k1").await.unwrap();
    let still_mine = store
        .reserve_idempotency(TENANT, "k1", "hash-c", at(1), TTL)
        .await;
    let entry = IdempotencyEntry {
        request_hash: "hash-a".to_owned(),
        task_id: None,
        created_at: t0(),
    };
    assert_eq!(still_mine.unwrap(), Reservation::Existing(entry));
}

pub async fn complete_and_release_of_unknown_keys_are_no_ops(store: &dyn TaskStore) {
    store
        .complete_idempotency(TENANT, "nope", "task_1")
        .await
        .unwrap();
    store.release_idempotency(TENANT, "nope").await.unwrap();
    let fresh = store
        .reserve_idempotency(TENANT, "nope", "h", t0(), TTL)
        .await;
    assert_eq!(fresh.unwrap(), Reservation::Reserved);
}
