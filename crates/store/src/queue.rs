//! The gateway's queue as the store keeps it: which waiting task goes to which provider
//! next. Each engine loads a [`QueueView`] and applies the [`Pick`]s inside one
//! transaction that no other claim can interleave with (PostgreSQL: a transaction-level
//! advisory lock; SQLite: its single writer; memory: its mutex); the choice itself is made
//! here, once, for every engine.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// A task's place in the gateway's queue while no provider has it yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub state: QueueState,
    /// −10 to 10; higher leaves first within the tenant.
    pub priority: i32,
    /// The providers it may go to, in the route's order.
    pub candidates: Vec<String>,
    /// Put back after a provider refused it for capacity: first in its tenant's line.
    pub head: bool,
    /// The create's `input`, as JSON text; what the dispatch sends.
    pub input: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueState {
    /// In line for a free slot.
    Waiting,
    /// Holds a slot at `provider`; its create is in flight under the record's lease. A
    /// lease that runs out in this state means the create's outcome is unknown.
    Dispatching { provider: String },
}

impl QueueState {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            QueueState::Waiting => "waiting",
            QueueState::Dispatching { .. } => "dispatching",
        }
    }
}

/// How many tasks a provider may run at once, as the dispatcher sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotLimit {
    /// No `max_concurrent`.
    Unlimited,
    /// At most this many unfinished tasks there, all tenants and replicas together.
    Max(u64),
    /// Takes nothing now (throttled, circuit open).
    Closed,
}

/// What a claim may hand out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DispatchPolicy {
    /// Per provider; a candidate missing here is not usable (no longer configured).
    pub slots: BTreeMap<String, SlotLimit>,
    /// Each tenant's `queue_weight`; a tenant missing here weighs 1.
    pub weights: BTreeMap<String, u32>,
}

impl DispatchPolicy {
    /// Whether one of `providers` has a free slot, with `running` slots in use.
    pub(crate) fn any_free(&self, providers: &[String], running: &BTreeMap<String, u64>) -> bool {
        let free = Free {
            policy: self,
            running: running.clone(),
        };
        providers.iter().any(|p| free.has(p))
    }

    fn weight(&self, tenant: &str) -> f64 {
        f64::from(self.weights.get(tenant).copied().unwrap_or(1).max(1))
    }
}

/// Which waiting tasks a claim takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick<'a> {
    /// Up to `limit` tasks, in weighted fair order between tenants (each dispatch moves
    /// the tenant's virtual time on by `1 / queue_weight`; the tenant furthest behind goes
    /// next), within a tenant by head, priority (higher first), then age.
    Fair { limit: usize },
    /// As `Fair`, but only when one of `providers` has a free slot now; otherwise nothing is
    /// taken and the waiting line is not even read. For a create: it frees no slot, so when
    /// its own providers are full there is nothing it could start, and reading a long line
    /// on every create would cost each one time in proportion to the queue's length.
    FairWhenFree {
        limit: usize,
        providers: &'a [String],
    },
    /// This task only (a fallback to its next candidates), if it is waiting and one of its
    /// candidates has a free slot. Leaves the tenants' virtual times alone.
    Task { tenant: &'a str, id: &'a str },
}

/// The tasks ahead of one queued task, among those waiting for the same providers (the
/// same candidate list), counted so the number only goes down: only older tasks count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueAhead {
    /// The tenant's own older tasks with a priority at least the task's.
    pub own: u64,
    /// Each other tenant's older tasks.
    pub others: Vec<(String, u64)>,
}

/// A tenant's and candidate list's count of waiting tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingCount {
    pub tenant: String,
    pub candidates: Vec<String>,
    pub count: u64,
}

/// One waiting task as the choice needs it, listed per tenant in the tenant's order
/// (head first, then priority, higher first, then `created_at`, then id).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WaitingTask {
    pub tenant: String,
    pub id: String,
    pub candidates: Vec<String>,
}

/// What a claim's choice reads, inside its transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct QueueView {
    /// Unfinished tasks holding a slot per provider (dispatching or at the provider).
    pub running: BTreeMap<String, u64>,
    /// Waiting tasks with a free lease, each tenant's in its order (enough of them: at
    /// least `limit` per tenant and candidate list).
    pub waiting: Vec<WaitingTask>,
    /// The tenants' virtual times.
    pub passes: BTreeMap<String, f64>,
    /// The virtual time of the last dispatch: a tenant that was idle starts from here, not
    /// from the past it did not use.
    pub clock: f64,
}

/// One task the claim takes, and the provider whose slot it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chosen {
    pub id: String,
    pub provider: String,
}

/// The choice, and the virtual times to store with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Choice {
    pub chosen: Vec<Chosen>,
    pub passes: BTreeMap<String, f64>,
    pub clock: f64,
}

/// Free slots per provider, counting down as tasks are chosen.
struct Free<'a> {
    policy: &'a DispatchPolicy,
    running: BTreeMap<String, u64>,
}

impl Free<'_> {
    fn has(&self, provider: &str) -> bool {
        match self.policy.slots.get(provider) {
            Some(SlotLimit::Unlimited) => true,
            Some(SlotLimit::Max(max)) => self.running.get(provider).copied().unwrap_or(0) < *max,
            Some(SlotLimit::Closed) | None => false,
        }
    }

    fn first(&self, candidates: &[String]) -> Option<String> {
        candidates.iter().find(|p| self.has(p)).cloned()
    }

    fn take(&mut self, provider: &str) {
        *self.running.entry(provider.to_string()).or_insert(0) += 1;
    }
}

/// Decides which waiting tasks go where. Pure: the engines load `view` and store the
/// result in the same transaction.
pub(crate) fn choose(view: QueueView, policy: &DispatchPolicy, pick: Pick<'_>) -> Choice {
    let mut free = Free {
        policy,
        running: view.running,
    };
    let mut passes = view.passes;
    let mut clock = view.clock;
    let mut waiting = view.waiting;
    let mut chosen = Vec::new();
    match pick {
        Pick::Task { tenant, id } => {
            let task = waiting.iter().find(|t| t.tenant == tenant && t.id == id);
            if let Some(provider) = task.and_then(|t| free.first(&t.candidates)) {
                chosen.push(Chosen {
                    id: id.to_string(),
                    provider,
                });
            }
        }
        Pick::Fair { limit } | Pick::FairWhenFree { limit, .. } => {
            while chosen.len() < limit {
                // Each tenant's first task that can go somewhere now.
                let mut best: Option<(f64, &str, usize, String)> = None;
                let mut seen: Vec<&str> = Vec::new();
                for (index, task) in waiting.iter().enumerate() {
                    if seen.contains(&task.tenant.as_str()) {
                        continue;
                    }
                    let Some(provider) = free.first(&task.candidates) else {
                        continue;
                    };
                    seen.push(&task.tenant);
                    let pass = passes.get(&task.tenant).copied().unwrap_or(0.0).max(clock);
                    let better = match &best {
                        None => true,
                        Some((p, t, _, _)) => (pass, task.tenant.as_str()) < (*p, *t),
                    };
                    if better {
                        best = Some((pass, &task.tenant, index, provider));
                    }
                }
                let Some((pass, _, index, provider)) = best else {
                    break;
                };
                let task = waiting.remove(index);
                clock = pass;
                passes.insert(
                    task.tenant.clone(),
                    pass + 1.0 / policy.weight(&task.tenant),
                );
                free.take(&provider);
                chosen.push(Chosen {
                    id: task.id,
                    provider,
                });
            }
        }
    }
    Choice {
        chosen,
        passes,
        clock,
    }
}

/// The text a candidate list is stored as (and grouped by): a JSON array.
pub(crate) fn candidates_text(candidates: &[String]) -> String {
    serde_json::to_string(candidates).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn candidates_from(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Position of a queued task from what is ahead of it: its own tenant's tasks ahead, plus
/// from each other tenant as many as weighted fair order lets go before it (never more
/// than that tenant has waiting ahead). Both parts only shrink, so the position only goes
/// down.
pub fn position(ahead: &QueueAhead, tenant: &str, policy: &DispatchPolicy) -> u64 {
    let own_turn = ahead.own + 1;
    let own_weight = policy.weight(tenant);
    let others: u64 = ahead
        .others
        .iter()
        .map(|(other, older)| {
            let share = (own_turn as f64 * policy.weight(other) / own_weight).ceil() as u64;
            share.min(*older)
        })
        .sum();
    own_turn + others
}

/// When `at` is within a claim's lease, as a store compares it.
pub(crate) fn lease_free(lease_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    lease_until.is_none_or(|until| until < now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(tenant: &str, id: &str, candidates: &[&str]) -> WaitingTask {
        WaitingTask {
            tenant: tenant.into(),
            id: id.into(),
            candidates: candidates.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn policy(slots: &[(&str, SlotLimit)], weights: &[(&str, u32)]) -> DispatchPolicy {
        DispatchPolicy {
            slots: slots.iter().map(|(p, l)| (p.to_string(), *l)).collect(),
            weights: weights.iter().map(|(t, w)| (t.to_string(), *w)).collect(),
        }
    }

    /// Dispatches one at a time with one slot, as freed slots arrive, and returns the
    /// tenants in dispatch order.
    fn one_by_one(mut view: QueueView, policy: &DispatchPolicy, rounds: usize) -> Vec<String> {
        let mut order = Vec::new();
        for _ in 0..rounds {
            let choice = choose(view.clone(), policy, Pick::Fair { limit: 1 });
            let Some(next) = choice.chosen.first() else {
                break;
            };
            let at = view.waiting.iter().position(|t| t.id == next.id).unwrap();
            order.push(view.waiting.remove(at).tenant);
            view.passes = choice.passes;
            view.clock = choice.clock;
        }
        order
    }

    #[test]
    fn weights_two_to_one_give_two_of_three_slots_whatever_the_arrival_order() {
        let policy = policy(&[("p", SlotLimit::Max(1))], &[("heavy", 2), ("light", 1)]);
        let mut waiting: Vec<_> = (0..6)
            .map(|i| task("light", &format!("l{i}"), &["p"]))
            .collect();
        waiting.extend((0..6).map(|i| task("heavy", &format!("h{i}"), &["p"])));
        let view = QueueView {
            waiting,
            ..QueueView::default()
        };
        let order = one_by_one(view, &policy, 9);
        let heavy = order.iter().filter(|t| *t == "heavy").count();
        assert_eq!(heavy, 6, "{order:?}");
    }

    #[test]
    fn an_idle_tenant_starts_from_the_clock_not_from_its_old_credit() {
        let policy = policy(&[("p", SlotLimit::Unlimited)], &[]);
        let view = QueueView {
            waiting: (0..4)
                .map(|i| task("old", &format!("o{i}"), &["p"]))
                .chain((0..4).map(|i| task("busy", &format!("b{i}"), &["p"])))
                .collect(),
            passes: [("busy".to_string(), 10.0)].into(),
            clock: 10.0,
            ..QueueView::default()
        };
        let order = one_by_one(view, &policy, 4);
        assert_eq!(order, ["busy", "old", "busy", "old"]);
    }

    #[test]
    fn slots_are_never_exceeded_and_fallback_order_holds() {
        let policy = policy(
            &[
                ("a", SlotLimit::Max(2)),
                ("b", SlotLimit::Max(1)),
                ("c", SlotLimit::Closed),
            ],
            &[],
        );
        let view = QueueView {
            running: [("a".to_string(), 1)].into(),
            waiting: (0..5)
                .map(|i| task("t", &format!("x{i}"), &["c", "a", "b"]))
                .collect(),
            ..QueueView::default()
        };
        let choice = choose(view, &policy, Pick::Fair { limit: 10 });
        let got: Vec<_> = choice.chosen.iter().map(|c| c.provider.as_str()).collect();
        assert_eq!(got, ["a", "b"]);
    }

    #[test]
    fn a_task_behind_a_full_provider_does_not_block_its_tenant_elsewhere() {
        let policy = policy(
            &[("full", SlotLimit::Max(0)), ("open", SlotLimit::Max(1))],
            &[],
        );
        let view = QueueView {
            waiting: vec![
                task("t", "first", &["full"]),
                task("t", "second", &["open"]),
            ],
            ..QueueView::default()
        };
        let choice = choose(view, &policy, Pick::Fair { limit: 5 });
        assert_eq!(
            choice.chosen,
            [Chosen {
                id: "second".into(),
                provider: "open".into()
            }]
        );
    }

    #[test]
    fn a_named_task_is_taken_only_with_a_free_slot_and_moves_no_clock() {
        let policy = policy(&[("a", SlotLimit::Max(1))], &[]);
        let view = QueueView {
            waiting: vec![task("t", "x", &["a"])],
            ..QueueView::default()
        };
        let pick = Pick::Task {
            tenant: "t",
            id: "x",
        };
        let choice = choose(view.clone(), &policy, pick);
        assert_eq!(choice.chosen.len(), 1);
        assert!(choice.passes.is_empty());
        let full = QueueView {
            running: [("a".to_string(), 1)].into(),
            ..view
        };
        assert!(choose(full, &policy, pick).chosen.is_empty());
    }

    #[test]
    fn positions_count_own_turn_and_a_weighted_share_of_the_others() {
        let policy = policy(&[], &[("a", 2)]);
        let alone = QueueAhead {
            own: 2,
            others: vec![],
        };
        assert_eq!(position(&alone, "a", &policy), 3);
        let shared = QueueAhead {
            own: 1,
            others: vec![("b".into(), 10), ("c".into(), 0)],
        };
        // Turn 2 for weight 2: one of b's goes first, none of c's (it has none).
        assert_eq!(position(&shared, "a", &policy), 3);
        let light = QueueAhead {
            own: 1,
            others: vec![("a".into(), 10)],
        };
        // Turn 2 for weight 1 against weight 2: four of a's go first.
        assert_eq!(position(&light, "b", &policy), 6);
    }
}
