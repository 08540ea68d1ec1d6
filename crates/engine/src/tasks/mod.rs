//! What happens to a stored task: refreshed from its provider (single-flight, taking turns
//! across replicas), changes stored as compare-and-set with their webhook, finished tasks
//! kept ready to serve.

pub mod callback_token;
pub mod commit;
pub mod finished_cache;
pub mod refresh;
pub mod singleflight;
pub mod turns;
