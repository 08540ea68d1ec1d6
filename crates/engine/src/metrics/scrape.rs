//! What is computed when Prometheus scrapes: the gauges read from the store and the
//! circuits, then the whole registry encoded.

use taskgate_core::TaskStatus;
use tokio::time::Instant;

use super::{ProviderLabels, TaskLabels, TenantLabels};
use crate::state::AppState;
use crate::traffic::circuit::CircuitState;

/// Unfinished statuses: every configured provider gets a series for each, zero included.
const UNFINISHED: [TaskStatus; 2] = [TaskStatus::Queued, TaskStatus::Running];

fn circuit_value(state: CircuitState) -> i64 {
    match state {
        CircuitState::Closed => 0,
        CircuitState::HalfOpen => 1,
        CircuitState::Open => 2,
    }
}

/// Sets `taskgate_tasks` and `taskgate_circuit_state` from the store and the circuits now.
/// A provider removed from the config loses its series.
pub async fn refresh_gauges(state: &AppState) {
    let runtime = state.runtime.load_full();
    let metrics = &state.metrics;
    let counts = state.store.count_unfinished_by_provider().await;
    let now = Instant::now();
    metrics.circuit_state.clear();
    for name in runtime.config.providers.keys() {
        let value = state
            .guards
            .circuit(name)
            .map_or(0, |c| circuit_value(c.state(now)));
        metrics
            .circuit_state
            .get_or_create(&ProviderLabels {
                provider: name.clone(),
            })
            .set(value);
    }
    let counts = match counts {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot count tasks in the store");
            return;
        }
    };
    let waiting = state.store.count_waiting(None).await;
    metrics.tasks.clear();
    metrics.provider_in_flight.clear();
    for name in runtime.config.providers.keys() {
        metrics
            .provider_in_flight
            .get_or_create(&ProviderLabels {
                provider: name.clone(),
            })
            .set(0);
    }
    for name in runtime.config.providers.keys() {
        for status in UNFINISHED {
            metrics
                .tasks
                .get_or_create(&TaskLabels {
                    provider: name.clone(),
                    status: status.as_str().to_string(),
                })
                .set(0);
        }
    }
    for count in counts.iter().filter(|c| !c.provider.is_empty()) {
        metrics
            .provider_in_flight
            .get_or_create(&ProviderLabels {
                provider: count.provider.clone(),
            })
            .inc_by(i64::try_from(count.count).unwrap_or(i64::MAX));
    }
    metrics.queue_depth.clear();
    for name in runtime.config.tenants.keys() {
        metrics
            .queue_depth
            .get_or_create(&TenantLabels {
                tenant: name.clone(),
            })
            .set(0);
    }
    match waiting {
        Ok(waiting) => {
            for count in waiting {
                metrics
                    .queue_depth
                    .get_or_create(&TenantLabels {
                        tenant: count.tenant,
                    })
                    .inc_by(i64::try_from(count.count).unwrap_or(i64::MAX));
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count queued tasks"),
    }
    for count in counts.into_iter().filter(|c| !c.provider.is_empty()) {
        metrics
            .tasks
            .get_or_create(&TaskLabels {
                provider: count.provider,
                status: count.status.as_str().to_string(),
            })
            .set(i64::try_from(count.count).unwrap_or(i64::MAX));
    }
}
