//! What the API does with tasks: create (stored first, then sent upstream or queued),
//! read, list, cancel. The engine (`taskgate-engine`) keeps what happens to a task
//! afterwards; its task modules are re-exported here so both read as one `tasks`.

pub mod cancel;
pub mod create;
pub mod list;
pub mod read;
mod submit;

pub use taskgate_engine::tasks::{
    callback_token, commit, finished_cache, refresh, singleflight, turns,
};

use taskgate_store::StoreError;

use crate::error::ApiError;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store failure");
        ApiError::Unavailable("the task store is unavailable; try again".into())
    }
}
