//! The gateway's queue: every create is stored first and waits for a slot at one of its
//! route's providers (`providers.X.max_concurrent`), shared between tenants in weighted
//! fair order. The store holds the line (see `taskgate_store::queue`); this module decides
//! what the dispatcher may hand out, sends each claimed task upstream exactly once, and
//! tells clients where their queued tasks stand.

pub mod cooldown;
pub mod dispatch;
pub mod dispatcher;
pub mod durations;
pub mod expiry;
pub mod place;
pub mod policy;
pub mod runnable;
mod transitions;
