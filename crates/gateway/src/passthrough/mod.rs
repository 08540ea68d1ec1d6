//! Helpers of the pass-through (`ANY /proxy/{provider}/{*path}`, `api/proxy.rs`): which
//! headers cross, the streamed request body, the upstream URL.

pub mod body;
pub mod failure;
pub mod headers;
pub mod ownership;
pub mod target;

/// Marks a response that is the provider's own answer, passed on as it is: the layers that
/// give errors the contract's shape leave it alone.
#[derive(Debug, Clone, Copy)]
pub struct PassedThrough;
