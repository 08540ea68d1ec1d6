//! What the API does with tasks: create with routing and fallback, refresh, cancel, list.

pub mod callback_token;
pub mod cancel;
pub mod commit;
pub mod create;
pub mod finished_cache;
pub mod list;
pub mod read;
pub mod refresh;
pub mod singleflight;
pub mod turns;

use taskgate_store::StoreError;

use crate::error::ApiError;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store failure");
        ApiError::Unavailable("the task store is unavailable; try again".into())
    }
}
