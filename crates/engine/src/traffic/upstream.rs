//! Guarded upstream calls: circuit, rate budget, timeout (in the client) and retries with
//! backoff, in that order, for every call the gateway makes to a provider.

use std::sync::Arc;
use std::time::Duration;

use taskgate_config::ProviderConfig;
use taskgate_core::{
    CreateError, CreateOptions, FailureClass, InputError, Provider, Secret, Snapshot, TaskInput,
    TaskType, UpstreamError,
};
use tokio::time::Instant;

use super::backoff;
use super::guard::ProviderGuard;
use crate::metrics::Metrics;

/// Why a guarded call produced no result.
#[derive(Debug)]
pub enum CallError {
    /// The provider cannot express the input; nothing was sent.
    Unsupported(InputError),
    /// The provider's rate budget is spent; nothing was sent.
    RateLimited { retry_after: Duration },
    /// The provider's circuit is open; nothing was sent.
    CircuitOpen,
    /// The provider failed, after retries where they were safe.
    Upstream(UpstreamError),
}

/// How a call may wait for a rate-budget unit.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// Creates, cancels and pass-through calls wait a little (`limit_wait`).
    Short,
    /// Up to this long: zero for client reads (the stored state is served instead), longer
    /// for the background watcher.
    Up(Duration),
}

/// How one attempt went: whether it tells the circuit the provider is unwell, and its
/// `outcome` label in the metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub failed: bool,
    pub outcome: &'static str,
}

impl Verdict {
    pub const OK: Verdict = Verdict {
        failed: false,
        outcome: "ok",
    };
}

/// What a guarded call is: its name in the metrics, how it waits for a budget unit, when
/// a failure may be repeated, and how an attempt's result is judged.
struct CallKind<T> {
    operation: &'static str,
    wait: Wait,
    retry_safe: fn(&UpstreamError) -> bool,
    judge: fn(&Result<T, UpstreamError>) -> Verdict,
}

/// One provider with its guard, for the calls of one request.
pub struct Upstream<'a> {
    pub name: &'a str,
    pub provider: &'a Arc<Provider>,
    pub config: &'a ProviderConfig,
    pub guard: ProviderGuard,
    pub metrics: Arc<Metrics>,
}

/// Whether an outcome says the provider is unwell (for the circuit). Rejections, unknown
/// ids and 429s are the provider working as designed.
fn is_failure(e: &UpstreamError) -> bool {
    match e.class {
        FailureClass::Rejected | FailureClass::NotVisibleYet => false,
        FailureClass::NoEffect => e.transient && e.http_status != Some(429),
        FailureClass::OutcomeUnknown | FailureClass::BadAnswer => true,
    }
}

/// The verdict on a failed attempt.
pub fn judge_error(e: &UpstreamError) -> Verdict {
    let outcome = if e.timed_out {
        "timeout"
    } else if e.http_status == Some(429) {
        "throttled"
    } else {
        match e.class {
            FailureClass::Rejected => "rejected",
            FailureClass::NotVisibleYet => "not_found",
            FailureClass::BadAnswer => "bad_answer",
            FailureClass::NoEffect | FailureClass::OutcomeUnknown => "error",
        }
    };
    Verdict {
        failed: is_failure(e),
        outcome,
    }
}

/// Any answer the adapter could read is a success.
fn judge<T>(result: &Result<T, UpstreamError>) -> Verdict {
    match result {
        Ok(_) => Verdict::OK,
        Err(e) => judge_error(e),
    }
}

/// A pass-through answer is passed on whatever its status, but a 5xx still says the
/// provider is unwell, and a 4xx is labelled as such.
fn judge_forwarded(result: &Result<reqwest::Response, UpstreamError>) -> Verdict {
    match result {
        Ok(response) => match response.status().as_u16() {
            429 => Verdict {
                failed: false,
                outcome: "throttled",
            },
            400..=499 => Verdict {
                failed: false,
                outcome: "rejected",
            },
            500..=599 => Verdict {
                failed: true,
                outcome: "error",
            },
            _ => Verdict::OK,
        },
        Err(e) => judge_error(e),
    }
}

fn never(_: &UpstreamError) -> bool {
    false
}

impl Upstream<'_> {
    async fn permit(&self, wait: Wait) -> Result<(), CallError> {
        let Some(budget) = &self.guard.budget else {
            return Ok(());
        };
        let max_wait = match wait {
            Wait::Short => self.config.limit_wait,
            Wait::Up(d) => d,
        };
        budget
            .acquire(max_wait)
            .await
            .map_err(|retry_after| CallError::RateLimited { retry_after })
    }

    fn admit(&self, operation: &'static str) -> Result<(), CallError> {
        if self.guard.circuit.admit(Instant::now()) {
            Ok(())
        } else {
            self.metrics
                .upstream_call(self.name, operation, "circuit_open", None);
            Err(CallError::CircuitOpen)
        }
    }

    /// Runs `call` with the guard: each attempt takes a budget unit; a failure is retried
    /// while `kind.retry_safe` says so and retries remain. Every attempt is counted, timed
    /// and logged here, and only here.
    async fn guarded<T, F, Fut>(&self, kind: CallKind<T>, mut call: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, UpstreamError>>,
    {
        let operation = kind.operation;
        self.admit(operation)?;
        let mut attempt = 0;
        loop {
            if let Err(e) = self.permit(kind.wait).await {
                // The circuit admitted this call; it never went out, so it says nothing.
                self.guard.circuit.record(Instant::now(), false);
                self.metrics
                    .upstream_call(self.name, operation, "rate_limited", None);
                return Err(e);
            }
            let started = Instant::now();
            let result = call().await;
            let latency = started.elapsed();
            let verdict = (kind.judge)(&result);
            self.guard.circuit.record(Instant::now(), verdict.failed);
            self.metrics
                .upstream_call(self.name, operation, verdict.outcome, Some(latency));
            tracing::info!(provider = %self.name, operation, outcome = verdict.outcome, upstream_latency_ms = latency.as_millis() as u64, "upstream call");
            match result {
                Ok(value) => return Ok(value),
                Err(e) if attempt < self.config.retries && (kind.retry_safe)(&e) => {
                    let delay = backoff::delay(attempt, e.retry_after);
                    tracing::info!(provider = %self.name, attempt = attempt + 1, delay_ms = delay.as_millis() as u64, class = e.class.as_str(), status = ?e.http_status, "retrying upstream call");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    self.admit(operation)?;
                }
                Err(e) => return Err(CallError::Upstream(e)),
            }
        }
    }

    /// Creates the task. Retried only when the create certainly did not happen.
    pub async fn create(
        &self,
        input: &TaskInput,
        options: &CreateOptions,
        key: Option<&Secret>,
    ) -> Result<String, CallError> {
        self.provider
            .check_input(input, options)
            .map_err(CallError::Unsupported)?;
        let kind = CallKind {
            operation: "create",
            wait: Wait::Short,
            retry_safe: UpstreamError::is_retryable,
            judge,
        };
        self.guarded(kind, || async {
            match self.provider.create(input, options, key).await {
                Ok(id) => Ok(id),
                Err(CreateError::Upstream(e)) => Err(e),
                // check_input passed, so this cannot happen; treat it as a rejection.
                Err(CreateError::Unsupported(e)) => {
                    Err(UpstreamError::new(FailureClass::Rejected, e.to_string()))
                }
            }
        })
        .await
    }

    /// Polls the task, waiting at most `max_wait` for a budget unit.
    pub async fn poll(
        &self,
        provider_task_id: &str,
        task_type: TaskType,
        key: Option<&Secret>,
        max_wait: Duration,
    ) -> Result<Snapshot, CallError> {
        let kind = CallKind {
            operation: "poll",
            wait: Wait::Up(max_wait),
            retry_safe: read_retry_safe,
            judge,
        };
        self.guarded(kind, || {
            self.provider.poll(provider_task_id, task_type, key)
        })
        .await
    }

    /// Cancels the task upstream; cancels are idempotent, so any transient failure retries.
    pub async fn cancel(
        &self,
        provider_task_id: &str,
        key: Option<&Secret>,
    ) -> Result<(), CallError> {
        let kind = CallKind {
            operation: "cancel",
            wait: Wait::Short,
            retry_safe: read_retry_safe,
            judge,
        };
        self.guarded(kind, || self.provider.cancel(provider_task_id, key))
            .await
    }

    /// Sends a pass-through request once: its body is a stream, so it is never repeated.
    /// `send` makes the one attempt and classifies a transport failure.
    pub async fn forward<F, Fut>(&self, send: F) -> Result<reqwest::Response, CallError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<reqwest::Response, UpstreamError>>,
    {
        let kind = CallKind {
            operation: "proxy",
            wait: Wait::Short,
            retry_safe: never,
            judge: judge_forwarded,
        };
        let mut send = Some(send);
        self.guarded(kind, || {
            let once = send.take();
            async move {
                match once {
                    Some(send) => send().await,
                    None => Err(UpstreamError::new(
                        FailureClass::NoEffect,
                        "a pass-through call is never repeated",
                    )),
                }
            }
        })
        .await
    }
}

/// Polls and cancels can be repeated safely whenever the failure may be passing.
fn read_retry_safe(e: &UpstreamError) -> bool {
    match e.class {
        FailureClass::NoEffect => e.transient,
        FailureClass::OutcomeUnknown | FailureClass::BadAnswer => true,
        FailureClass::Rejected | FailureClass::NotVisibleYet => false,
    }
}
