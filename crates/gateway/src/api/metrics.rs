//! `GET /metrics` (admin listener): the Prometheus scrape, in the OpenMetrics text format.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics::scrape::refresh_gauges;
use crate::state::AppState;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let _one_scrape_at_a_time = state.metrics.scrape_lock.lock().await;
    refresh_gauges(&state).await;
    let text = state.metrics.encode().map_err(|_| ApiError::Internal)?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}
