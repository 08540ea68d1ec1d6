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
    /// Creates and cancels wait a little (`limit_wait`).
    Short,
    /// Up to this long: zero for client reads (the stored state is served instead), longer
    /// for the background watcher.
    Up(Duration),
}

/// One provider with its guard, for the calls of one request.
pub struct Upstream<'a> {
    pub name: &'a str,
    pub provider: &'a Arc<Provider>,
    pub config: &'a ProviderConfig,
    pub guard: ProviderGuard,
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

    fn admit(&self) -> Result<(), CallError> {
        if self.guard.circuit.admit(Instant::now()) {
            Ok(())
        } else {
            Err(CallError::CircuitOpen)
        }
    }

    fn record<T>(&self, result: &Result<T, UpstreamError>) {
        let failed = result.as_ref().err().is_some_and(is_failure);
        self.guard.circuit.record(Instant::now(), failed);
    }

    /// Runs `call` with the guard: each attempt takes a budget unit; a failure is retried
    /// while `retry_safe` says so and retries remain.
    async fn guarded<T, F, Fut>(
        &self,
        wait: Wait,
        retry_safe: fn(&UpstreamError) -> bool,
        mut call: F,
    ) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, UpstreamError>>,
    {
        self.admit()?;
        let mut attempt = 0;
        loop {
            if let Err(e) = self.permit(wait).await {
                // The circuit admitted this call; it never went out, so it says nothing.
                self.guard.circuit.record(Instant::now(), false);
                return Err(e);
            }
            let result = call().await;
            self.record(&result);
            match result {
                Ok(value) => return Ok(value),
                Err(e) if attempt < self.config.retries && retry_safe(&e) => {
                    let delay = backoff::delay(attempt, e.retry_after);
                    tracing::info!(provider = %self.name, attempt = attempt + 1, delay_ms = delay.as_millis() as u64, class = e.class.as_str(), status = ?e.http_status, "retrying upstream call");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    self.admit()?;
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
        self.guarded(Wait::Short, UpstreamError::is_retryable, || async {
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
        self.guarded(Wait::Up(max_wait), read_retry_safe, || {
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
        self.guarded(Wait::Short, read_retry_safe, || {
            self.provider.cancel(provider_task_id, key)
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
