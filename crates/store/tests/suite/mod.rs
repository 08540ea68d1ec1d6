//! The conformance suite: every engine must pass every function here.

pub mod claim;
pub mod deliveries;
pub mod idempotency;
pub mod list;
pub mod ownership;
pub mod queue;
pub mod tasks;
