//! The admin listener: liveness and readiness.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// Alive: the process serves HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready: a config is loaded and the store answers.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await?;
    let runtime = state.runtime.load();
    Ok(Json(json!({
        "status": "ready",
        "config_version": runtime.config.version,
    })))
}
