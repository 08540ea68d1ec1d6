//! taskgate: one stable API for asynchronous video and image tasks across providers.
//! Thin glue around `taskgate-core`: routes, layers, store, config.

pub mod api;
pub mod app;
pub mod client_body;
pub mod cluster;
pub mod connections;
pub mod demo;
pub mod error;
pub mod extract;
pub mod layers;
pub mod lifecycle;
pub mod metrics;
pub mod passthrough;
pub mod queue;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod state;
pub mod strict_json;
pub mod tasks;
pub mod traffic;

pub use server::Gateway;
