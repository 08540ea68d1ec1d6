//! Cross-cutting concerns, each a tower `Layer` + `Service` pair. `app.rs` stacks them.

pub mod auth;
pub mod deadline;
pub mod header_limit;
pub mod metrics;
pub mod request_id;
pub mod rescue;
pub mod tenant_limit;
