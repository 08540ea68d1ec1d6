//! What protects one provider: its rate budget and its circuit. Kept across config
//! reloads as long as their settings are unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use taskgate_config::ProviderConfig;

use super::budget::{Budget, Budgets};
use super::circuit::Circuit;

pub struct ProviderGuard {
    pub budget: Option<Arc<Budget>>,
    pub circuit: Arc<Circuit>,
}

/// Every provider's guard, by provider name.
#[derive(Default)]
pub struct Guards {
    budgets: Budgets,
    circuits: Mutex<HashMap<String, Arc<Circuit>>>,
}

impl Guards {
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    pub fn for_provider(&self, name: &str, config: &ProviderConfig) -> ProviderGuard {
        let budget = config
            .rate_limit
            .map(|limit| self.budgets.get(&format!("provider:{name}"), limit));
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
