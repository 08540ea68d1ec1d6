//! taskgate: one stable API for asynchronous video and image tasks across providers.
//! The edge: routes, extractors, layers, the OpenAPI document and the server, around the
//! engine (`taskgate-engine`: what happens to a task) and `taskgate-core` (the providers).

pub mod api;
pub mod app;
pub mod client_body;
pub mod connections;
pub mod demo;
pub mod error;
pub mod extract;
pub mod layers;
pub mod passthrough;
pub mod prefer;
pub mod server;
pub mod strict_json;
pub mod tasks;

/// The engine's modules, under the paths they had before the split.
pub use taskgate_engine::{
    cluster, lifecycle, metrics, outputs, queue, reload, runtime, state, traffic,
};

pub use server::Gateway;
