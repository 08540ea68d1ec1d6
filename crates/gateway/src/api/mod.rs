//! The HTTP routes: the tenant API and the admin listener.

pub mod admin;
pub mod callbacks;
pub mod files;
pub mod metrics;
pub mod openapi;
pub mod providers;
pub mod proxy;
pub mod tasks;
