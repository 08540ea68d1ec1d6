//! What the queue may hand out now: each provider's slots (`max_concurrent`, or none while
//! it rests after a refusal or its circuit is open) and each tenant's weight.

use taskgate_store::{DispatchPolicy, SlotLimit};
use tokio::time::Instant;

use crate::runtime::Runtime;
use crate::state::AppState;
use crate::traffic::circuit::CircuitState;

pub fn dispatch_policy(state: &AppState, runtime: &Runtime) -> DispatchPolicy {
    let now = Instant::now();
    let slots = runtime
        .config
        .providers
        .iter()
        .map(|(name, config)| {
            let open = state
                .guards
                .circuit(name)
                .is_some_and(|c| c.state(now) == CircuitState::Open);
            let limit = if open || state.cooldowns.resting(name, now) {
                SlotLimit::Closed
            } else {
                match config.max_concurrent {
                    Some(max) => SlotLimit::Max(u64::from(max)),
                    None => SlotLimit::Unlimited,
                }
            };
            (name.clone(), limit)
        })
        .collect();
    let weights = runtime
        .config
        .tenants
        .iter()
        .map(|(name, tenant)| (name.clone(), tenant.queue_weight))
        .collect();
    DispatchPolicy { slots, weights }
}

/// Whether any of these providers limits its concurrency: a task for them may wait in the
/// gateway's queue. Without one, a create goes straight upstream, as before the queue.
pub fn queueable(runtime: &Runtime, candidates: &[String]) -> bool {
    candidates.iter().any(|name| {
        runtime
            .config
            .providers
            .get(name)
            .is_some_and(|p| p.max_concurrent.is_some())
    })
}
