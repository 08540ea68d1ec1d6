//! Raw → ready: every check, every problem collected with its path.

mod fields;
mod hosts;
mod outputs;
mod providers;
mod routes;
mod sections;
mod tenants;

use crate::problems::Problems;
use crate::raw::RawConfig;
use crate::ready::Config;

/// The frozen config, or `None` when any problem was found (all of them are in `problems`).
pub(crate) fn validate(
    raw: &RawConfig,
    version: String,
    problems: &mut Problems,
) -> Option<Config> {
    let server = raw
        .server
        .as_ref()
        .and_then(|s| sections::server(s, problems));
    let store = raw
        .store
        .as_ref()
        .and_then(|s| sections::store(s, problems));
    let cluster = raw
        .cluster
        .as_ref()
        .map(|c| sections::cluster(c, store.as_ref(), problems));
    let tasks = raw
        .tasks
        .as_ref()
        .and_then(|t| sections::tasks(t, problems));
    let webhooks = raw
        .webhooks
        .as_ref()
        .and_then(|w| sections::webhooks(w, problems));
    let providers = providers::providers(&raw.providers, problems);
    // Set at all: a value that is not a URL is a problem of its own, not of every route; nor
    // is a `server` section that could not be read (`None`, its problem already recorded).
    let public_url = raw.server.as_ref().is_none_or(|s| s.public_url.is_some());
    let outputs = raw
        .outputs
        .as_ref()
        .map(|o| o.as_ref().and_then(|o| outputs::outputs(o, problems)));
    // Written at all: a section that could not be read is its own problem, not the tenants'.
    let context = tenants::Context {
        provider_kinds: &providers.kinds,
        public_url,
        outputs: raw.outputs.is_some(),
    };
    let tenants = tenants::tenants(&raw.tenants, &context, problems);
    if !problems.is_empty() {
        return None;
    }
    Some(Config {
        server: server?,
        store: store?,
        cluster: match cluster {
            None => None,
            Some(c) => Some(c?),
        },
        tasks: tasks?,
        webhooks: webhooks?,
        providers: providers.valid,
        tenants,
        outputs: match outputs {
            None => None,
            Some(o) => Some(o?),
        },
        version,
    })
}
