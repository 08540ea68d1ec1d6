//! The running configuration: one immutable snapshot (config, provider clients, key index)
//! that a reload replaces whole. A request holds the snapshot it started with.

use std::collections::BTreeMap;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use taskgate_config::{Config, TenantConfig};
use taskgate_core::Provider;

pub struct Runtime {
    pub config: Config,
    pub providers: BTreeMap<String, Arc<Provider>>,
    /// The outputs storage, when `outputs` is configured.
    pub outputs: Option<Arc<taskgate_outputs::Storage>>,
    /// Every configured key hash with its tenant's name.
    key_index: Vec<([u8; 32], String)>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("version", &self.config.version)
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("provider {name}: cannot build its HTTP client: {source}")]
    Provider {
        name: String,
        source: reqwest::Error,
    },
    #[error("outputs.storage: {0}")]
    Outputs(taskgate_outputs::StorageError),
}

impl Runtime {
    /// Builds provider clients for `config`. `previous` lends its clients (and so their
    /// connection pools) to providers whose settings did not change.
    pub fn build(config: Config, previous: Option<&Runtime>) -> Result<Runtime, RuntimeError> {
        let mut providers = BTreeMap::new();
        for (name, provider) in &config.providers {
            let reused = previous.and_then(|prev| {
                let same = prev
                    .config
                    .providers
                    .get(name)
                    .is_some_and(|old| old.settings == provider.settings);
                same.then(|| prev.providers.get(name).cloned()).flatten()
            });
            let client = match reused {
                Some(client) => client,
                None => Arc::new(Provider::new(provider.settings.clone()).map_err(|source| {
                    RuntimeError::Provider {
                        name: name.clone(),
                        source,
                    }
                })?),
            };
            providers.insert(name.clone(), client);
        }
        let key_index = config
            .tenants
            .values()
            .flat_map(|t| t.key_hashes.iter().map(|h| (*h, t.name.clone())))
            .collect();
        let outputs = match &config.outputs {
            None => None,
            Some(settings) => {
                let reused = previous.and_then(|prev| {
                    let same = prev
                        .config
                        .outputs
                        .as_ref()
                        .is_some_and(|old| old.storage == settings.storage);
                    same.then(|| prev.outputs.clone()).flatten()
                });
                match reused {
                    Some(storage) => Some(storage),
                    None => Some(Arc::new(
                        taskgate_outputs::Storage::from_settings(&settings.storage)
                            .map_err(RuntimeError::Outputs)?,
                    )),
                }
            }
        };
        Ok(Runtime {
            config,
            providers,
            outputs,
            key_index,
        })
    }

    /// The tenant holding `key`. Compares against every configured hash in constant time,
    /// so timing tells nothing about which hash came close.
    pub fn tenant_for_key(&self, key: &str) -> Option<&TenantConfig> {
        let presented = taskgate_config::hash_key(key);
        let mut found: Option<&str> = None;
        for (hash, tenant) in &self.key_index {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(tenant);
            }
        }
        found.and_then(|name| self.config.tenants.get(name))
    }

    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.config.tenants.get(name)
    }

    pub fn provider(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers.get(name)
    }
}
