//! The webhook outbox's delivery loop: claims due deliveries (leased, so one replica sends
//! each), signs them per Standard Webhooks, and reschedules failures with exponential
//! backoff and jitter until `webhooks.give_up_after`. A delivery to an address the callback
//! policy refuses fails at once, without retries.

use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use taskgate_config::WebhookSettings;
use taskgate_core::Event;
use taskgate_store::{Delivery, DeliveryOutcome};
use tokio::sync::watch;

use super::callback_target::{Refusal, TargetPolicy};
use super::signing::sign;
use super::webhook_http::RefusedTarget;
use crate::state::AppState;
use crate::tasks::refresh::to_chrono;

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
    let result = send(state, &delivery, settings).await;
    let now = Utc::now();
    let (outcome, word) = match result {
        Ok(()) => (DeliveryOutcome::Delivered, "delivered"),
        // Final at once: the address will not become acceptable by waiting.
        Err(Attempt::Refused(refusal)) => {
            let error = RefusedTarget(refusal).to_string();
            (DeliveryOutcome::Failed { error }, "refused")
        }
        Err(Attempt::Failed(error)) => {
            let age = (now - delivery.created_at).to_std().unwrap_or_default();
            if age >= settings.give_up_after {
                (DeliveryOutcome::Failed { error }, "failed")
            } else {
                let wait = chrono::Duration::from_std(retry_delay(&settings, delivery.attempts))
                    .unwrap_or(chrono::Duration::MAX);
                let at = now + wait;
                (DeliveryOutcome::Retry { at, error }, "retry")
            }
        }
    };
    match &outcome {
        DeliveryOutcome::Delivered => {
            tracing::info!(webhook_id = %delivery.id, task = %delivery.task_id, event = %delivery.event, attempt, outcome = word, "webhook attempt");
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
    // A receiver gets `task.progress` at most once per `progress_every`, counted from when
    // it was answered: the task's next one waits at least that long.
    let hold_progress_until = (delivery.event == Event::Progress.as_str()
        && !matches!(outcome, DeliveryOutcome::Retry { .. }))
    .then(|| now + to_chrono(settings.progress_every));
    if let Err(e) = state
        .store
        .finish_delivery(&delivery, &outcome, hold_progress_until)
        .await
    {
        tracing::warn!(webhook_id = %delivery.id, error = %e, "could not record a webhook attempt; it will be retried after its lease");
    }
}

/// Why an attempt did not deliver.
enum Attempt {
    /// The callback policy refuses the address: final.
    Refused(Refusal),
    /// Anything else: retried. The text is for logs and the store, never the secret.
    Failed(String),
}

impl From<&str> for Attempt {
    fn from(text: &str) -> Attempt {
        Attempt::Failed(text.to_string())
    }
}

/// One attempt.
async fn send(
    state: &AppState,
    delivery: &Delivery,
    settings: WebhookSettings,
) -> Result<(), Attempt> {
    let runtime = state.runtime.load();
    let secret = runtime
        .tenant(&delivery.tenant)
        .and_then(|t| t.webhook_secret.as_ref())
        .ok_or("the tenant has no webhook_secret configured")?;
    let url = url::Url::parse(&delivery.url).map_err(|_| "the callback URL does not parse")?;
    // A literal address is connected to without resolution, so the resolver never sees
    // it: checked here. Names are checked by the resolver, on what they resolve to now.
    let policy = TargetPolicy::new(
        state.webhook_http.listeners(),
        settings.deny_private_networks,
    );
    policy.check_url(&url).map_err(Attempt::Refused)?;
    let port = url.port_or_known_default().unwrap_or(0);
    let timestamp = Utc::now().timestamp();
    let signature = sign(secret.expose(), &delivery.id, timestamp, &delivery.body)
        .ok_or("the tenant's webhook_secret is not whsec_<base64>")?;
    let response = state
        .webhook_http
        .for_port(port)
        .post(url)
        .timeout(settings.timeout)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|e| {
            if let Some(refusal) = RefusedTarget::find(&e) {
                Attempt::Refused(refusal)
            } else if e.is_timeout() {
                "no answer in time".into()
            } else if e.is_connect() {
                "connection failed".into()
            } else {
                "request failed".into()
            }
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(Attempt::Failed(format!(
            "answered HTTP {}",
            status.as_u16()
        )))
    }
}

/// Delivery attempts by outcome since start.
#[derive(Debug, Default)]
pub struct AttemptCounts {
    pub delivered: std::sync::atomic::AtomicU64,
    pub retry: std::sync::atomic::AtomicU64,
    /// Given up, refused addresses included.
    pub failed: std::sync::atomic::AtomicU64,
    /// Refused by the callback address policy (also counted in `failed`).
    pub refused: std::sync::atomic::AtomicU64,
}

impl AttemptCounts {
    fn record(&self, outcome: &str) {
        if outcome == "refused" {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let counter = match outcome {
            "delivered" => &self.delivered,
            "retry" => &self.retry,
            _ => &self.failed,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
