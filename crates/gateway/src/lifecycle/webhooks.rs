//! The webhook outbox's delivery loop: claims due deliveries (leased, so one replica sends
//! each), signs them per Standard Webhooks, and reschedules failures with exponential
//! backoff and jitter until `webhooks.give_up_after`.

use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use taskgate_config::WebhookSettings;
use taskgate_store::{Delivery, DeliveryOutcome};
use tokio::sync::watch;

use super::signing::sign;
use crate::state::AppState;

const BATCH: usize = 32;
const TICK: Duration = Duration::from_millis(250);

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        let settings = state.runtime.load().config.webhooks;
        let lease = settings.timeout * 2 + Duration::from_secs(5);
        match state
            .store
            .claim_deliveries(&state.replica_id, Utc::now(), lease, BATCH)
            .await
        {
            Ok(deliveries) => {
                let sends = deliveries.into_iter().map(|d| deliver(&state, d, settings));
                futures::future::join_all(sends).await;
            }
            Err(e) => tracing::warn!(error = %e, "outbox could not claim deliveries"),
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = state.outbox_ready.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The wait before attempt `attempts + 1`: `retry_base · 2ⁿ` capped at `retry_max`, the
/// upper half of it at random (jitter without ever retrying at once).
pub fn retry_delay(settings: &WebhookSettings, attempts: u32) -> Duration {
    let ceiling = settings
        .retry_base
        .saturating_mul(1u32 << attempts.min(20))
        .min(settings.retry_max);
    let half = ceiling / 2;
    half + half.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
}

async fn deliver(state: &AppState, delivery: Delivery, settings: WebhookSettings) {
    let attempt = delivery.attempts + 1;
    let result = send(state, &delivery, settings.timeout).await;
    let now = Utc::now();
    let outcome = match result {
        Ok(()) => DeliveryOutcome::Delivered,
        Err(error) => {
            let age = (now - delivery.created_at).to_std().unwrap_or_default();
            if age >= settings.give_up_after {
                DeliveryOutcome::Failed { error }
            } else {
                let wait = chrono::Duration::from_std(retry_delay(&settings, delivery.attempts))
                    .unwrap_or(chrono::Duration::MAX);
                DeliveryOutcome::Retry {
                    at: now + wait,
                    error,
                }
            }
        }
    };
    let word = match &outcome {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::Retry { .. } => "retry",
        DeliveryOutcome::Failed { .. } => "failed",
    };
    match &outcome {
        DeliveryOutcome::Delivered => {
            tracing::info!(webhook_id = %delivery.id, task = %delivery.task_id, attempt, outcome = word, "webhook attempt");
        }
        DeliveryOutcome::Retry { at, error } => {
            tracing::warn!(webhook_id = %delivery.id, task = %delivery.task_id, attempt, outcome = word, error = %error, next_attempt_at = %at, "webhook attempt");
        }
        DeliveryOutcome::Failed { error } => {
            tracing::error!(webhook_id = %delivery.id, task = %delivery.task_id, attempt, outcome = word, error = %error, "webhook attempt; giving up");
        }
    }
    state.webhook_attempts.record(word);
    state.metrics.webhook_delivery(word);
    if let Err(e) = state.store.finish_delivery(&delivery.id, &outcome).await {
        tracing::warn!(webhook_id = %delivery.id, error = %e, "could not record a webhook attempt; it will be retried after its lease");
    }
}

/// One attempt. The error text is for logs and the store: never the secret.
async fn send(state: &AppState, delivery: &Delivery, timeout: Duration) -> Result<(), String> {
    let runtime = state.runtime.load();
    let secret = runtime
        .tenant(&delivery.tenant)
        .and_then(|t| t.webhook_secret.as_ref())
        .ok_or("the tenant has no webhook_secret configured")?;
    let timestamp = Utc::now().timestamp();
    let signature = sign(secret.expose(), &delivery.id, timestamp, &delivery.body)
        .ok_or("the tenant's webhook_secret is not whsec_<base64>")?;
    let response = state
        .webhook_http
        .post(&delivery.url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "no answer in time".to_string()
            } else if e.is_connect() {
                "connection failed".to_string()
            } else {
                "request failed".to_string()
            }
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered HTTP {}", status.as_u16()))
    }
}

/// Delivery attempts by outcome since start.
#[derive(Debug, Default)]
pub struct AttemptCounts {
    pub delivered: std::sync::atomic::AtomicU64,
    pub retry: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
}

impl AttemptCounts {
    fn record(&self, outcome: &str) {
        let counter = match outcome {
            "delivered" => &self.delivered,
            "retry" => &self.retry,
            _ => &self.failed,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
