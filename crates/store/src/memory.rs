//! The in-memory engine, for tests: the same semantics as the persistent engines, nothing
//! survives the process. One mutex, never held across an await.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::queue::{
    choose, lease_free, DispatchPolicy, Pick, QueueAhead, QueueState, QueueView, WaitingCount,
    WaitingTask,
};
use crate::time::{earlier, later};
use crate::{
    Delivery, DeliveryOutcome, IdempotencyEntry, ListQuery, Reservation, StatusCount, StoreError,
    TaskRecord, TaskStore,
};

/// A task's place in its tenant's list; the list is this order, reversed.
type Position = (DateTime<Utc>, String);

/// Tasks and idempotency keys in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// By task id (ids are unique across tenants, as in the SQL engines).
    tasks: HashMap<String, TaskRecord>,
    /// Each tenant's tasks by `(created_at, id)`.
    by_tenant: HashMap<String, BTreeSet<Position>>,
    /// By `(tenant, key)`.
    idempotency: HashMap<(String, String), IdempotencyEntry>,
    /// Pending deliveries by id; finished ones are dropped (memory keeps no history).
    deliveries: HashMap<String, Delivery>,
    /// [`TaskStore::shared_secret`]'s, by name.
    secrets: HashMap<String, String>,
    /// Per task, until when its last finished `task.progress` holds the next one back.
    progress_held: HashMap<String, DateTime<Utc>>,
    /// Tenants of tasks created through the pass-through, by `(provider, provider task id)`.
    passthrough_tasks: HashMap<(String, String), String>,
    /// The queue's virtual times: each tenant's, and the global clock.
    passes: BTreeMap<String, f64>,
    clock: f64,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock cannot leave a half-written record: every
        // mutation below is a single insert or field assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn position(record: &TaskRecord) -> Position {
    (record.task.created_at, record.task.id.clone())
}

impl State {
    fn tenant_records<'a>(&'a self, tenant: &str) -> impl Iterator<Item = &'a TaskRecord> + 'a {
        self.by_tenant
            .get(tenant)
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| self.tasks.get(id))
    }

    fn replace(&mut self, record: TaskRecord) {
        let new_position = position(&record);
        if let Some(old) = self.tasks.insert(record.task.id.clone(), record.clone()) {
            if let Some(index) = self.by_tenant.get_mut(&old.tenant) {
                index.remove(&position(&old));
            }
        }
        self.by_tenant
            .entry(record.tenant)
            .or_default()
            .insert(new_position);
    }
}

fn is_waiting(record: &TaskRecord) -> bool {
    record
        .queue
        .as_ref()
        .is_some_and(|q| q.state == QueueState::Waiting)
}

/// A waiting task's place in its tenant's line: head first, then priority (higher first),
/// then `(created_at, id)`.
fn line_key(record: &TaskRecord) -> (bool, i32, DateTime<Utc>, &str) {
    let (head, priority) = record
        .queue
        .as_ref()
        .map_or((false, 0), |q| (q.head, q.priority));
    (!head, -priority, record.task.created_at, &record.task.id)
}

impl State {
    /// What a claim's choice reads: every claimable waiting task (the SQL engines load
    /// fewer, which changes nothing the choice can pick).
    fn queue_view(&self, now: DateTime<Utc>, pick: Pick<'_>) -> QueueView {
        let mut running: BTreeMap<String, u64> = BTreeMap::new();
        for record in self.tasks.values().filter(|r| !r.task.is_terminal()) {
            if let Some(provider) = record.slot_provider() {
                *running.entry(provider.to_owned()).or_insert(0) += 1;
            }
        }
        let mut waiting: Vec<&TaskRecord> = self
            .tasks
            .values()
            .filter(|r| is_waiting(r) && !r.task.is_terminal() && lease_free(r.lease_until, now))
            .filter(|r| match pick {
                Pick::Fair { .. } | Pick::FairWhenFree { .. } => true,
                Pick::Task { tenant, id } => r.tenant == tenant && r.task.id == id,
            })
            .collect();
        waiting.sort_by(|a, b| (&a.tenant, line_key(a)).cmp(&(&b.tenant, line_key(b))));
        QueueView {
            running,
            waiting: waiting
                .into_iter()
                .map(|r| WaitingTask {
                    tenant: r.tenant.clone(),
                    id: r.task.id.clone(),
                    candidates: r
                        .queue
                        .as_ref()
                        .map(|q| q.candidates.clone())
                        .unwrap_or_default(),
                })
                .collect(),
            passes: self.passes.clone(),
            clock: self.clock,
        }
    }
}

fn is_due(record: &TaskRecord, now: DateTime<Utc>) -> bool {
    !record.task.is_terminal()
        && record.next_check_at.is_some_and(|at| at <= now)
        && record.lease_until.is_none_or(|until| until < now)
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn insert(&self, record: &TaskRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.tasks.contains_key(&record.task.id) {
            return Err(StoreError::Duplicate);
        }
        state.replace(record.clone());
        Ok(())
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let state = self.state();
        Ok(state.tasks.get(id).filter(|r| r.tenant == tenant).cloned())
    }

    async fn update(&self, record: &TaskRecord) -> Result<Option<i64>, StoreError> {
        let mut state = self.state();
        let current = state.tasks.get(&record.task.id);
        if !current.is_some_and(|c| c.tenant == record.tenant && c.version == record.version) {
            return Ok(None);
        }
        let mut stored = record.clone();
        stored.version = record.version + 1;
        state.replace(stored);
        Ok(Some(record.version + 1))
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<Vec<TaskRecord>, StoreError> {
        let state = self.state();
        let Some(index) = state.by_tenant.get(tenant) else {
            return Ok(Vec::new());
        };
        let upper = match &query.after {
            Some(cursor) => Bound::Excluded((cursor.created_at, cursor.id.clone())),
            None => Bound::Unbounded,
        };
        Ok(index
            .range((Bound::Unbounded, upper))
            .rev()
            .filter_map(|(_, id)| state.tasks.get(id))
            .filter(|r| query.status.is_none_or(|s| r.task.status == s))
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn count_unfinished(&self, tenant: &str) -> Result<u64, StoreError> {
        let state = self.state();
        let count = state
            .tenant_records(tenant)
            .filter(|r| !r.task.is_terminal())
            .count();
        Ok(u64::try_from(count).unwrap_or(u64::MAX))
    }

    async fn count_unfinished_by_provider(&self) -> Result<Vec<StatusCount>, StoreError> {
        let state = self.state();
        let mut counts: BTreeMap<(String, &'static str), StatusCount> = BTreeMap::new();
        for record in state.tasks.values().filter(|r| !r.task.is_terminal()) {
            let task = &record.task;
            // As the SQL engines group their `provider` column: a waiting task's is empty.
            let provider = record.slot_provider().unwrap_or_default().to_owned();
            counts
                .entry((provider.clone(), task.status.as_str()))
                .or_insert_with(|| StatusCount {
                    provider,
                    status: task.status,
                    count: 0,
                })
                .count += 1;
        }
        Ok(counts.into_values().collect())
    }

    async fn reserve_idempotency(
        &self,
        tenant: &str,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Reservation, StoreError> {
        let cutoff = earlier(now, ttl);
        let mut state = self.state();
        state.idempotency.retain(|_, e| e.created_at >= cutoff);
        let slot = (tenant.to_owned(), key.to_owned());
        if let Some(existing) = state.idempotency.get(&slot) {
            return Ok(Reservation::Existing(existing.clone()));
        }
        let entry = IdempotencyEntry {
            request_hash: request_hash.to_owned(),
            task_id: None,
            created_at: now,
        };
        state.idempotency.insert(slot, entry);
        Ok(Reservation::Reserved)
    }

    async fn complete_idempotency(
        &self,
        tenant: &str,
        key: &str,
        task_id: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let slot = (tenant.to_owned(), key.to_owned());
        if let Some(entry) = state.idempotency.get_mut(&slot) {
            entry.task_id = Some(task_id.to_owned());
        }
        Ok(())
    }

    async fn release_idempotency(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        state
            .idempotency
            .remove(&(tenant.to_owned(), key.to_owned()));
        Ok(())
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let until = later(now, lease);
        let mut state = self.state();
        let mut due: Vec<(DateTime<Utc>, String)> = state
            .tasks
            .values()
            .filter(|r| is_due(r, now))
            .filter_map(|r| Some((r.next_check_at?, r.task.id.clone())))
            .collect();
        due.sort();
        due.truncate(limit);
        let mut claimed = Vec::with_capacity(due.len());
        for (_, id) in due {
            if let Some(record) = state.tasks.get_mut(&id) {
                record.lease_owner = Some(owner.to_owned());
                record.lease_until = Some(until);
                record.version += 1;
                claimed.push(record.clone());
            }
        }
        Ok(claimed)
    }

    async fn update_with_deliveries(
        &self,
        record: &TaskRecord,
        deliveries: &[Delivery],
    ) -> Result<Option<i64>, StoreError> {
        let mut state = self.state();
        let current = state.tasks.get(&record.task.id);
        if !current.is_some_and(|c| c.tenant == record.tenant && c.version == record.version) {
            return Ok(None);
        }
        let mut stored = record.clone();
        stored.version = record.version + 1;
        state.replace(stored);
        for delivery in deliveries {
            state
                .deliveries
                .insert(delivery.id.clone(), delivery.clone());
        }
        Ok(Some(record.version + 1))
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut state = self.state();
        // Each task's first pending delivery: only it may be sent.
        let mut first: HashMap<String, i64> = HashMap::new();
        for d in state.deliveries.values() {
            let seq = first.entry(d.task_id.clone()).or_insert(d.seq);
            *seq = (*seq).min(d.seq);
        }
        let state = &mut *state;
        let held = &state.progress_held;
        let mut due: Vec<&mut Delivery> = state
            .deliveries
            .values_mut()
            .filter(|d| first.get(&d.task_id) == Some(&d.seq))
            .filter(|d| {
                d.event != "task.progress" || held.get(&d.task_id).is_none_or(|until| *until <= now)
            })
            .filter(|d| d.next_attempt_at <= now && d.lease_until.is_none_or(|until| until < now))
            .collect();
        due.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|d| {
                d.lease_owner = Some(owner.to_string());
                d.lease_until = Some(later(now, lease));
                d.clone()
            })
            .collect())
    }

    async fn finish_delivery(
        &self,
        delivery: &Delivery,
        outcome: &DeliveryOutcome,
        hold_progress_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let id = &delivery.id;
        match outcome {
            DeliveryOutcome::Retry { at, .. } => {
                if let Some(d) = state.deliveries.get_mut(id) {
                    d.attempts += 1;
                    d.next_attempt_at = *at;
                    d.lease_owner = None;
                    d.lease_until = None;
                }
            }
            DeliveryOutcome::Delivered | DeliveryOutcome::Failed { .. } => {
                state.deliveries.remove(id);
            }
        }
        let finished = !matches!(outcome, DeliveryOutcome::Retry { .. });
        if let (true, Some(at)) = (finished, hold_progress_until) {
            state.progress_held.insert(delivery.task_id.clone(), at);
        }
        Ok(())
    }

    async fn record_passthrough_task(
        &self,
        provider: &str,
        provider_task_id: &str,
        tenant: &str,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.state()
            .passthrough_tasks
            .entry((provider.to_owned(), provider_task_id.to_owned()))
            .or_insert_with(|| tenant.to_owned());
        Ok(())
    }

    async fn owns_provider_task(
        &self,
        tenant: &str,
        provider: &str,
        provider_task_id: &str,
    ) -> Result<bool, StoreError> {
        let state = self.state();
        let key = (provider.to_owned(), provider_task_id.to_owned());
        if state
            .passthrough_tasks
            .get(&key)
            .is_some_and(|t| t == tenant)
        {
            return Ok(true);
        }
        let owned = state.tenant_records(tenant).any(|r| {
            r.task.provider.as_deref() == Some(provider)
                && r.task.provider_task_id.as_deref() == Some(provider_task_id)
        });
        Ok(owned)
    }

    async fn claim_dispatch(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        policy: &DispatchPolicy,
        pick: Pick<'_>,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let until = later(now, lease);
        let mut state = self.state();
        let view = state.queue_view(now, pick);
        if let Pick::FairWhenFree { providers, .. } = pick {
            if !policy.any_free(providers, &view.running) {
                return Ok(Vec::new());
            }
        }
        let choice = choose(view, policy, pick);
        state.passes = choice.passes;
        state.clock = choice.clock;
        let mut claimed = Vec::with_capacity(choice.chosen.len());
        for chosen in choice.chosen {
            let Some(record) = state.tasks.get_mut(&chosen.id) else {
                continue;
            };
            if let Some(queue) = record.queue.as_mut() {
                queue.state = QueueState::Dispatching {
                    provider: chosen.provider,
                };
            }
            record.lease_owner = Some(owner.to_owned());
            record.lease_until = Some(until);
            record.next_check_at = Some(until);
            record.version += 1;
            claimed.push(record.clone());
        }
        Ok(claimed)
    }

    async fn queue_ahead(&self, record: &TaskRecord) -> Result<QueueAhead, StoreError> {
        let Some(entry) = &record.queue else {
            return Ok(QueueAhead::default());
        };
        let state = self.state();
        let mine = position(record);
        let mut own = 0;
        let mut others: BTreeMap<String, u64> = BTreeMap::new();
        for other in state.tasks.values() {
            let Some(queue) = &other.queue else {
                continue;
            };
            if queue.candidates != entry.candidates || position(other) >= mine {
                continue;
            }
            if other.tenant != record.tenant {
                *others.entry(other.tenant.clone()).or_insert(0) += 1;
            } else if queue.priority >= entry.priority {
                own += 1;
            }
        }
        Ok(QueueAhead {
            own,
            others: others.into_iter().collect(),
        })
    }

    async fn count_waiting(&self, tenant: Option<&str>) -> Result<Vec<WaitingCount>, StoreError> {
        let state = self.state();
        let mut counts: BTreeMap<(&str, &[String]), u64> = BTreeMap::new();
        for record in state.tasks.values().filter(|r| is_waiting(r)) {
            if tenant.is_some_and(|t| t != record.tenant) {
                continue;
            }
            let candidates = record.queue.as_ref().map_or(&[][..], |q| &q.candidates);
            *counts.entry((&record.tenant, candidates)).or_insert(0) += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((tenant, candidates), count)| WaitingCount {
                tenant: tenant.to_owned(),
                candidates: candidates.to_vec(),
                count,
            })
            .collect())
    }

    async fn discard(&self, tenant: &str, id: &str, version: i64) -> Result<bool, StoreError> {
        let mut state = self.state();
        let discardable = state.tasks.get(id).is_some_and(|r| {
            r.tenant == tenant && r.version == version && r.task.provider_task_id.is_none()
        });
        if !discardable {
            return Ok(false);
        }
        if let Some(gone) = state.tasks.remove(id) {
            if let Some(index) = state.by_tenant.get_mut(&gone.tenant) {
                index.remove(&position(&gone));
            }
        }
        Ok(true)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn extend_lease(
        &self,
        tenant: &str,
        id: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        match state.tasks.get_mut(id) {
            Some(r) if r.tenant == tenant && r.lease_owner.as_deref() == Some(owner) => {
                r.lease_until = Some(until);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn shared_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        Ok(self
            .state()
            .secrets
            .entry(name.to_owned())
            .or_insert_with(|| candidate.to_owned())
            .clone())
    }
}
