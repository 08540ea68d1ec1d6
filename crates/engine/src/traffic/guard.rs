//! What protects one provider: its rate budget and its circuit. Kept across config
//! reloads as long as their settings are unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use std::time::Duration;

use taskgate_config::{ProviderConfig, RateLimit};

use super::circuit::Circuit;
use super::gate::RateGate;

/// A provider's rate budget, spent through the gate (global with a cluster).
pub struct ProviderBudget {
    gate: RateGate,
    key: String,
    limit: RateLimit,
}

impl ProviderBudget {
    /// Takes one unit, waiting up to `max_wait`; on failure, how long until one is free.
    pub async fn acquire(&self, max_wait: Duration) -> Result<(), Duration> {
        self.gate.acquire(&self.key, self.limit, max_wait).await
    }
}

pub struct ProviderGuard {
    pub budget: Option<ProviderBudget>,
    pub circuit: Arc<Circuit>,
}

/// Every provider's guard, by provider name.
#[derive(Default)]
pub struct Guards {
    gate: RateGate,
    circuits: Mutex<HashMap<String, Arc<Circuit>>>,
}

impl Guards {
    pub fn new(gate: RateGate) -> Guards {
        Guards {
            gate,
            circuits: Mutex::default(),
        }
    }

    pub fn for_provider(&self, name: &str, config: &ProviderConfig) -> ProviderGuard {
        let budget = config.rate_limit.map(|limit| ProviderBudget {
            gate: self.gate.clone(),
            key: format!("provider:{name}"),
            limit,
        });
        let mut circuits = self.circuits.lock().unwrap_or_else(PoisonError::into_inner);
        let circuit = match circuits.get(name) {
            Some(c) if c.settings() == config.circuit => c.clone(),
            _ => {
                let c = Arc::new(Circuit::new(config.circuit));
                circuits.insert(name.to_string(), c.clone());
                c
            }
        };
        ProviderGuard { budget, circuit }
    }

    /// The circuit of a provider, if it has been used.
    pub fn circuit(&self, name: &str) -> Option<Arc<Circuit>> {
        self.circuits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }
}
