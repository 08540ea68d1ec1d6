//! taskgate-engine: what happens to a task, whoever asked: the running config snapshot,
//! refreshes and their single-flight, the watcher, the webhook outbox, the gateway's queue
//! and its dispatcher, provider guards (rate budgets, circuits, retries), the cluster's
//! Redis, and the metrics registry. No HTTP server types: the `taskgate` crate (the edge)
//! turns requests into calls here and results into answers.

pub mod cluster;
pub mod lifecycle;
pub mod metrics;
pub mod outputs;
pub mod queue;
pub mod reload;
pub mod runtime;
pub mod state;
pub mod tasks;
pub mod traffic;
