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

/// Ready: a config is loaded and the store answers. `limits` says whether rate limits are
/// `global` (a cluster whose Redis answers) or `local` (this process, or its share).
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await?;
    let runtime = state.runtime.load();
    let mut body = json!({
        "status": "ready",
        "config_version": runtime.config.version,
        "limits": if state.gate.is_global() { "global" } else { "local" },
    });
    // Redis away is not unready: limits fall back to local shares (said here).
    if let (Some(cluster), Some(map)) = (&state.cluster, body.as_object_mut()) {
        map.insert("replica_id".into(), json!(state.replica_id));
        map.insert(
            "redis".into(),
            json!(if cluster.health.is_up() { "up" } else { "down" }),
        );
        map.insert(
            "replicas_seen".into(),
            json!(cluster.health.replicas_seen()),
        );
    }
    Ok(Json(body))
}
