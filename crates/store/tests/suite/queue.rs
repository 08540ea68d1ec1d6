//! The gateway's queue: the queue's columns, claim_dispatch, queue_ahead, count_waiting,
//! discard.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Map;
use taskgate_core::{Task, TaskStatus, TaskType};
use taskgate_store::{
    DispatchPolicy, Pick, QueueAhead, QueueEntry, QueueState, SlotLimit, TaskRecord, TaskStore,
    WaitingCount,
};

use crate::common::*;

const LEASE: Duration = Duration::from_secs(60);

/// A task waiting in the gateway's queue for `candidates`.
pub fn waiting(
    tenant: &str,
    id: &str,
    created_at: DateTime<Utc>,
    candidates: &[&str],
) -> TaskRecord {
    let task = Task::waiting(id.to_owned(), TaskType::TextToVideo, Map::new(), created_at);
    let mut rec = TaskRecord::new(tenant.to_owned(), task, None);
    rec.queue = Some(QueueEntry {
        state: QueueState::Waiting,
        priority: 0,
        candidates: candidates.iter().map(|c| c.to_string()).collect(),
        head: false,
        input: r#"{"prompt":"a cat, \"quoted\", ünïcødé"}"#.to_owned(),
    });
    rec
}

fn with_priority(mut rec: TaskRecord, priority: i32, head: bool) -> TaskRecord {
    if let Some(queue) = rec.queue.as_mut() {
        queue.priority = priority;
        queue.head = head;
    }
    rec
}

/// An unfinished task a provider has (`status` running).
fn at_provider(tenant: &str, id: &str, provider: &str) -> TaskRecord {
    let mut rec = record_with_status(tenant, id, t0(), TaskStatus::Running);
    rec.task.provider = Some(provider.to_owned());
    rec
}

pub fn policy(slots: &[(&str, SlotLimit)], weights: &[(&str, u32)]) -> DispatchPolicy {
    DispatchPolicy {
        slots: slots.iter().map(|(p, l)| (p.to_string(), *l)).collect(),
        weights: weights.iter().map(|(t, w)| (t.to_string(), *w)).collect(),
    }
}

fn ids(records: &[TaskRecord]) -> Vec<&str> {
    records.iter().map(|r| r.task.id.as_str()).collect()
}

fn providers(records: &[TaskRecord]) -> Vec<&str> {
    records.iter().map(|r| r.slot_provider().unwrap()).collect()
}

async fn insert_all(store: &dyn TaskStore, records: &[TaskRecord]) {
    for rec in records {
        store.insert(rec).await.unwrap();
    }
}

async fn fair(
    store: &dyn TaskStore,
    now: DateTime<Utc>,
    policy: &DispatchPolicy,
    limit: usize,
) -> Vec<TaskRecord> {
    store
        .claim_dispatch("replica-a", now, LEASE, policy, Pick::Fair { limit })
        .await
        .unwrap()
}

/// What the gateway does when the provider accepted a dispatched task, then finished it:
/// the slot is free again.
pub async fn finish(store: &dyn TaskStore, claimed: &TaskRecord) {
    let mut done = claimed.clone();
    done.task.provider = claimed.slot_provider().map(str::to_owned);
    done.task.provider_task_id = Some(format!("up-{}", claimed.task.id));
    done.task.status = TaskStatus::Succeeded;
    done.queue = None;
    done.next_check_at = None;
    done.lease_owner = None;
    done.lease_until = None;
    assert_eq!(
        store.update(&done).await.unwrap(),
        Some(claimed.version + 1)
    );
}

pub async fn queue_fields_round_trip(store: &dyn TaskStore) {
    let rec = with_priority(
        waiting(TENANT, "task_q", at(0), &["comet", "runway"]),
        -3,
        true,
    );
    assert_eq!(rec.task.provider, None);
    store.insert(&rec).await.unwrap();
    assert_eq!(
        store.get(TENANT, "task_q").await.unwrap().as_ref(),
        Some(&rec)
    );

    // Dispatching: the slot's provider is the record's, the task's is still none.
    let mut dispatching = rec.clone();
    if let Some(queue) = dispatching.queue.as_mut() {
        queue.state = QueueState::Dispatching {
            provider: "runway".to_owned(),
        };
        queue.head = false;
    }
    dispatching.lease_owner = Some("replica-a".to_owned());
    dispatching.lease_until = Some(at(60));
    assert_eq!(dispatching.slot_provider(), Some("runway"));
    assert_eq!(store.update(&dispatching).await.unwrap(), Some(2));
    let stored = store.get(TENANT, "task_q").await.unwrap().unwrap();
    assert_eq!(
        stored,
        TaskRecord {
            version: 2,
            ..dispatching
        }
    );

    // Dispatched: out of the queue, at its provider.
    let mut dispatched = stored.clone();
    dispatched.queue = None;
    dispatched.task.provider = Some("runway".to_owned());
    dispatched.task.provider_task_id = Some("rw-1".to_owned());
    dispatched.dispatched_at = Some(at(3) + chrono::TimeDelta::nanoseconds(7));
    dispatched.lease_owner = None;
    dispatched.lease_until = None;
    assert_eq!(store.update(&dispatched).await.unwrap(), Some(3));
    let stored = store.get(TENANT, "task_q").await.unwrap().unwrap();
    assert_eq!(
        stored,
        TaskRecord {
            version: 3,
            ..dispatched
        }
    );
    assert!(store
        .owns_provider_task(TENANT, "runway", "rw-1")
        .await
        .unwrap());
    assert!(store.count_waiting(None).await.unwrap().is_empty());
}

pub async fn claim_respects_max_counting_tasks_at_the_provider(store: &dyn TaskStore) {
    insert_all(
        store,
        &[
            at_provider(OTHER_TENANT, "task_running", "a"),
            // Finished tasks hold no slot.
            record_with_status(TENANT, "task_done", t0(), TaskStatus::Succeeded),
        ],
    )
    .await;
    let mut done = at_provider(TENANT, "task_done_at_a", "a");
    done.task.status = TaskStatus::Failed;
    store.insert(&done).await.unwrap();
    for i in 0..5 {
        store
            .insert(&waiting(TENANT, &format!("task_{i}"), at(i), &["a"]))
            .await
            .unwrap();
    }
    let policy = policy(&[("a", SlotLimit::Max(3))], &[]);
    let first = fair(store, at(10), &policy, 10).await;
    assert_eq!(ids(&first), ["task_0", "task_1"]);
    // Dispatching tasks hold their slots.
    assert!(fair(store, at(10), &policy, 10).await.is_empty());

    // One of them reaches the provider and finishes: one slot frees.
    finish(store, &first[0]).await;
    let next = fair(store, at(11), &policy, 10).await;
    assert_eq!(ids(&next), ["task_2"]);
    assert!(fair(store, at(11), &policy, 10).await.is_empty());

    // A running task finishing frees one too.
    let mut running = store
        .get(OTHER_TENANT, "task_running")
        .await
        .unwrap()
        .unwrap();
    running.task.status = TaskStatus::Canceled;
    running.next_check_at = None;
    store.update(&running).await.unwrap().unwrap();
    assert_eq!(ids(&fair(store, at(12), &policy, 10).await), ["task_3"]);
    assert_eq!(store.count_waiting(Some(TENANT)).await.unwrap()[0].count, 1);
}

pub async fn a_claim_for_full_providers_takes_nothing_even_with_room_elsewhere(
    store: &dyn TaskStore,
) {
    insert_all(
        store,
        &[
            at_provider(OTHER_TENANT, "task_running", "a"),
            waiting(TENANT, "task_for_a", at(1), &["a"]),
            waiting(TENANT, "task_for_b", at(2), &["b"]),
        ],
    )
    .await;
    let policy = policy(&[("a", SlotLimit::Max(1)), ("b", SlotLimit::Max(1))], &[]);
    let full = ["a".to_string()];
    let when_free = |providers| Pick::FairWhenFree {
        limit: 10,
        providers,
    };
    let none = store
        .claim_dispatch("replica-a", at(10), LEASE, &policy, when_free(&full))
        .await
        .unwrap();
    assert!(none.is_empty(), "a is full: {:?}", ids(&none));
    let open = ["b".to_string()];
    let some = store
        .claim_dispatch("replica-a", at(10), LEASE, &policy, when_free(&open))
        .await
        .unwrap();
    assert_eq!(ids(&some), ["task_for_b"]);
    assert_eq!(providers(&some), ["b"]);
}

pub async fn claim_takes_candidates_in_their_order(store: &dyn TaskStore) {
    for i in 0..4 {
        store
            .insert(&waiting(TENANT, &format!("task_{i}"), at(i), &["a", "b"]))
            .await
            .unwrap();
    }
    let policy = policy(&[("a", SlotLimit::Max(1)), ("b", SlotLimit::Max(2))], &[]);
    let claimed = fair(store, at(10), &policy, 10).await;
    assert_eq!(ids(&claimed), ["task_0", "task_1", "task_2"]);
    assert_eq!(providers(&claimed), ["a", "b", "b"]);
    assert!(fair(store, at(10), &policy, 10).await.is_empty());
}

pub async fn closed_and_unknown_providers_take_nothing(store: &dyn TaskStore) {
    let rec = waiting(TENANT, "task_1", at(0), &["closed", "gone"]);
    store.insert(&rec).await.unwrap();
    let policy = policy(
        &[
            ("closed", SlotLimit::Closed),
            ("other", SlotLimit::Unlimited),
        ],
        &[],
    );
    assert!(fair(store, at(10), &policy, 10).await.is_empty());
    let pick = Pick::Task {
        tenant: TENANT,
        id: "task_1",
    };
    assert!(store
        .claim_dispatch("w", at(10), LEASE, &policy, pick)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.get(TENANT, "task_1").await.unwrap(), Some(rec));
}

pub async fn claim_stops_at_its_limit(store: &dyn TaskStore) {
    for i in 0..5 {
        store
            .insert(&waiting(TENANT, &format!("task_{i}"), at(i), &["a"]))
            .await
            .unwrap();
    }
    let policy = policy(&[("a", SlotLimit::Unlimited)], &[]);
    assert!(fair(store, at(10), &policy, 0).await.is_empty());
    assert_eq!(
        ids(&fair(store, at(10), &policy, 2).await),
        ["task_0", "task_1"]
    );
    assert_eq!(
        ids(&fair(store, at(10), &policy, 10).await),
        ["task_2", "task_3", "task_4"]
    );
}

pub async fn weights_share_single_slots_two_to_one(store: &dyn TaskStore) {
    // The light tenant's tasks are all older: arrival order must not matter.
    for i in 0..6 {
        store
            .insert(&waiting("light", &format!("light_{i}"), at(i), &["p"]))
            .await
            .unwrap();
    }
    for i in 0..6 {
        store
            .insert(&waiting("heavy", &format!("heavy_{i}"), at(10 + i), &["p"]))
            .await
            .unwrap();
    }
    let policy = policy(&[("p", SlotLimit::Max(1))], &[("heavy", 2), ("light", 1)]);
    let mut order = Vec::new();
    for round in 0..9 {
        let claimed = fair(store, at(100 + round), &policy, 5).await;
        let [one] = claimed.as_slice() else {
            panic!("round {round}: expected one task, got {claimed:?}");
        };
        order.push(one.tenant.clone());
        finish(store, one).await;
    }
    let heavy = order.iter().filter(|t| *t == "heavy").count();
    assert_eq!(heavy, 6, "{order:?}");
}

pub async fn a_tenants_line_is_head_then_priority_then_age(store: &dyn TaskStore) {
    insert_all(
        store,
        &[
            waiting(TENANT, "task_old", at(0), &["a"]),
            with_priority(waiting(TENANT, "task_low", at(0), &["a"]), -1, false),
            with_priority(waiting(TENANT, "task_urgent_new", at(2), &["a"]), 5, false),
            with_priority(waiting(TENANT, "task_urgent_b", at(1), &["a"]), 5, false),
            with_priority(waiting(TENANT, "task_urgent_a", at(1), &["a"]), 5, false),
            with_priority(waiting(TENANT, "task_back", at(9), &["a"]), -10, true),
        ],
    )
    .await;
    let policy = policy(&[("a", SlotLimit::Unlimited)], &[]);
    let claimed = fair(store, at(10), &policy, 10).await;
    assert_eq!(
        ids(&claimed),
        [
            "task_back",
            "task_urgent_a",
            "task_urgent_b",
            "task_urgent_new",
            "task_old",
            "task_low"
        ]
    );
}

pub async fn a_leased_waiting_task_is_not_claimed(store: &dyn TaskStore) {
    let mut rec = waiting(TENANT, "task_1", at(0), &["a"]);
    rec.lease_owner = Some("watcher".to_owned());
    rec.lease_until = Some(at(100));
    store.insert(&rec).await.unwrap();
    let policy = policy(&[("a", SlotLimit::Unlimited)], &[]);
    assert!(fair(store, at(50), &policy, 10).await.is_empty());
    // At the lease's last instant it is still held.
    assert!(fair(store, at(100), &policy, 10).await.is_empty());
    let pick = Pick::Task {
        tenant: TENANT,
        id: "task_1",
    };
    assert!(store
        .claim_dispatch("w", at(100), LEASE, &policy, pick)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(ids(&fair(store, at(101), &policy, 10).await), ["task_1"]);
}

pub async fn a_named_task_is_claimed_alone(store: &dyn TaskStore) {
    for i in 0..3 {
        store
            .insert(&waiting(TENANT, &format!("task_{i}"), at(i), &["a", "b"]))
            .await
            .unwrap();
    }
    store
        .insert(&at_provider(OTHER_TENANT, "task_at_a", "a"))
        .await
        .unwrap();
    let policy = policy(&[("a", SlotLimit::Max(1)), ("b", SlotLimit::Max(1))], &[]);
    let pick = |tenant, id| Pick::Task { tenant, id };
    // Another tenant's id is nobody's here.
    assert!(store
        .claim_dispatch("w", at(10), LEASE, &policy, pick(OTHER_TENANT, "task_1"))
        .await
        .unwrap()
        .is_empty());
    let claimed = store
        .claim_dispatch("w", at(10), LEASE, &policy, pick(TENANT, "task_1"))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["task_1"]);
    assert_eq!(providers(&claimed), ["b"]);
    // Dispatching already: not claimed again. No slot left: nothing.
    for id in ["task_1", "task_2"] {
        assert!(store
            .claim_dispatch("w", at(10), LEASE, &policy, pick(TENANT, id))
            .await
            .unwrap()
            .is_empty());
    }
    let unknown = store
        .claim_dispatch("w", at(10), LEASE, &policy, pick(TENANT, "task_unknown"))
        .await
        .unwrap();
    assert!(unknown.is_empty());
}

pub async fn a_claimed_record_is_dispatching_under_a_lease(store: &dyn TaskStore) {
    let rec = waiting(TENANT, "task_1", at(0), &["a"]);
    store.insert(&rec).await.unwrap();
    let policy = policy(&[("a", SlotLimit::Max(5))], &[]);
    let claimed = fair(store, at(10), &policy, 10).await;
    let [mine] = claimed.as_slice() else {
        panic!("expected one claim, got {claimed:?}");
    };
    let mut expected = rec.clone();
    if let Some(queue) = expected.queue.as_mut() {
        queue.state = QueueState::Dispatching {
            provider: "a".to_owned(),
        };
    }
    expected.version = 2;
    expected.lease_owner = Some("replica-a".to_owned());
    expected.lease_until = Some(at(70));
    expected.next_check_at = Some(at(70));
    assert_eq!(mine, &expected);
    assert_eq!(mine.task.provider, None);
    assert_eq!(
        store.get(TENANT, "task_1").await.unwrap().as_ref(),
        Some(mine)
    );
    // A writer holding the pre-claim version lost the race.
    assert_eq!(store.update(&rec).await.unwrap(), None);
    // The watcher finds it when the lease runs out.
    assert!(store
        .claim_due("watcher", at(70), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&store.claim_due("watcher", at(71), LEASE, 10).await.unwrap()),
        ["task_1"]
    );
}

pub async fn queue_ahead_counts_older_tasks_for_the_same_providers(store: &dyn TaskStore) {
    let target = waiting(TENANT, "a3", at(2), &["a", "b"]);
    let urgent = with_priority(waiting(TENANT, "a2", at(1), &["a", "b"]), 5, false);
    let mut dispatching = waiting(OTHER_TENANT, "b_dispatching", at(1), &["a", "b"]);
    if let Some(queue) = dispatching.queue.as_mut() {
        queue.state = QueueState::Dispatching {
            provider: "a".to_owned(),
        };
    }
    let mut dispatched = record(OTHER_TENANT, "b_dispatched", at(0));
    dispatched.task.provider = Some("a".to_owned());
    insert_all(
        store,
        &[
            waiting(TENANT, "a1", at(0), &["a", "b"]),
            urgent.clone(),
            target.clone(),
            waiting(TENANT, "a4", at(3), &["a", "b"]),
            waiting(OTHER_TENANT, "b1", at(0), &["a", "b"]),
            waiting(OTHER_TENANT, "b2", at(3), &["a", "b"]),
            dispatching,
            dispatched,
            waiting("initech", "c1", at(0), &["b", "a"]),
            waiting("initech", "c2", at(1), &["a", "b"]),
        ],
    )
    .await;
    let ahead = store.queue_ahead(&target).await.unwrap();
    assert_eq!(
        ahead,
        QueueAhead {
            own: 2,
            others: vec![(OTHER_TENANT.to_owned(), 2), ("initech".to_owned(), 1)],
        }
    );
    // Same instant: ties go by id ("b_dispatching" > "a2").
    let ahead = store.queue_ahead(&urgent).await.unwrap();
    assert_eq!(
        ahead,
        QueueAhead {
            own: 0,
            others: vec![(OTHER_TENANT.to_owned(), 1)],
        }
    );
    let first = store.get(TENANT, "a1").await.unwrap().unwrap();
    assert_eq!(
        store.queue_ahead(&first).await.unwrap(),
        QueueAhead::default()
    );
    let outside = record(TENANT, "task_x", at(9));
    assert_eq!(
        store.queue_ahead(&outside).await.unwrap(),
        QueueAhead::default()
    );
}

pub async fn count_waiting_groups_by_tenant_and_candidates(store: &dyn TaskStore) {
    assert!(store.count_waiting(None).await.unwrap().is_empty());
    let mut dispatching = waiting(TENANT, "a_dispatching", at(0), &["a"]);
    if let Some(queue) = dispatching.queue.as_mut() {
        queue.state = QueueState::Dispatching {
            provider: "a".to_owned(),
        };
    }
    insert_all(
        store,
        &[
            waiting(TENANT, "a1", at(0), &["a"]),
            waiting(TENANT, "a2", at(1), &["a"]),
            waiting(TENANT, "a3", at(1), &["a", "b"]),
            waiting(OTHER_TENANT, "b1", at(0), &["a"]),
            dispatching,
            record(TENANT, "at_provider", at(0)),
        ],
    )
    .await;
    let count = |tenant: &str, candidates: &[&str], count| WaitingCount {
        tenant: tenant.to_owned(),
        candidates: candidates.iter().map(|c| c.to_string()).collect(),
        count,
    };
    assert_eq!(
        store.count_waiting(None).await.unwrap(),
        [
            count(TENANT, &["a"], 2),
            count(TENANT, &["a", "b"], 1),
            count(OTHER_TENANT, &["a"], 1),
        ]
    );
    assert_eq!(
        store.count_waiting(Some(OTHER_TENANT)).await.unwrap(),
        [count(OTHER_TENANT, &["a"], 1)]
    );
    assert!(store
        .count_waiting(Some("initech"))
        .await
        .unwrap()
        .is_empty());
}

pub async fn discard_deletes_an_unsent_task_at_its_version(store: &dyn TaskStore) {
    let rec = waiting(TENANT, "task_1", at(0), &["a"]);
    store.insert(&rec).await.unwrap();
    assert!(!store.discard(TENANT, "task_1", 2).await.unwrap());
    assert!(!store.discard(OTHER_TENANT, "task_1", 1).await.unwrap());
    assert!(store.get(TENANT, "task_1").await.unwrap().is_some());
    assert!(store.discard(TENANT, "task_1", 1).await.unwrap());
    assert_eq!(store.get(TENANT, "task_1").await.unwrap(), None);
    assert!(!store.discard(TENANT, "task_1", 1).await.unwrap());
    let query = taskgate_store::ListQuery {
        status: None,
        limit: 10,
        after: None,
    };
    assert!(store.list(TENANT, &query).await.unwrap().is_empty());
    assert_eq!(store.count_unfinished(TENANT).await.unwrap(), 0);
    // Its id is free again.
    store.insert(&rec).await.unwrap();

    // A provider has it: it stays.
    let sent = record(TENANT, "task_sent", at(0));
    store.insert(&sent).await.unwrap();
    assert!(!store.discard(TENANT, "task_sent", 1).await.unwrap());
    assert_eq!(store.get(TENANT, "task_sent").await.unwrap(), Some(sent));
}
