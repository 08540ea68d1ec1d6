//! The copy of a held success's outputs: durable work in the store, claimed by the watcher
//! with a lease (so one replica copies, and a copy cut short by a crash starts again after
//! the lease). Each output is streamed into storage; a failure worth retrying is tried
//! again within the round and then in later rounds, like a poll; when every output is
//! stored or finally failed, the task is stored as succeeded and its webhook queued.

use std::time::Duration;

use chrono::Utc;
use taskgate_core::{Output, TaskStatus};
use taskgate_outputs::{copy_output, CopyError, CopyLimits, OutputId, Storage};
use taskgate_store::{OutputsCopy, TaskRecord};

use crate::runtime::Runtime;
use crate::state::AppState;
use crate::tasks::commit::commit;
use crate::tasks::refresh::to_chrono;

/// Attempts of one output within a round.
const TRIES: u32 = 3;
/// Rounds before a failure worth retrying counts as final.
const ROUNDS: u32 = 5;

/// Runs the copy of `record` (claimed by this replica's watcher).
pub async fn run(state: &AppState, runtime: &Runtime, mut record: TaskRecord) {
    let Some(mut copy) = record.outputs_copy.take() else {
        return;
    };
    let id = record.task.id.clone();
    let renewal = keep_lease(state, &record, crate::lifecycle::watcher::lease(runtime));
    let round = match &runtime.outputs {
        Some(storage) => copy_round(state, runtime, storage, &record.tenant, &mut copy).await,
        // Outputs were turned off by a reload: hand out the provider's URLs.
        None => Round::Done,
    };
    renewal.abort();
    let now = Utc::now();
    record.lease_owner = None;
    record.lease_until = None;
    match round {
        Round::Again if copy.attempts + 1 < ROUNDS => {
            copy.attempts += 1;
            let wait = Duration::from_secs(5).saturating_mul(1 << copy.attempts.min(6));
            record.next_check_at = Some(now + to_chrono(wait));
            record.outputs_copy = Some(copy);
            match state.store.update(&record).await {
                Ok(Some(_)) => {
                    tracing::info!(task = %id, round = record.outputs_copy.as_ref().map_or(0, |c| c.attempts), "outputs copy will be retried")
                }
                Ok(None) => tracing::warn!(task = %id, "outputs copy: the task moved on meanwhile"),
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "outputs copy: could not record the round; the lease runs out and it starts again")
                }
            }
        }
        Round::Again | Round::Done => {
            for output in copy.finished.outputs.iter_mut() {
                settle_unstored(output);
            }
            record.task = copy.finished;
            record.next_check_at = None;
            match commit(state, TaskStatus::Running, &mut record).await {
                Ok(Some(_)) => tracing::info!(task = %id, "outputs stored; task succeeded"),
                Ok(None) => tracing::warn!(task = %id, "outputs copy: the task moved on meanwhile"),
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "outputs copy: could not store the success; the lease runs out and it starts again")
                }
            }
        }
    }
}

enum Round {
    /// Every output is stored or finally failed.
    Done,
    /// Some failed in a way worth another round.
    Again,
}

async fn copy_round(
    state: &AppState,
    runtime: &Runtime,
    storage: &Storage,
    tenant: &str,
    copy: &mut OutputsCopy,
) -> Round {
    let Some(settings) = runtime.config.outputs.as_ref() else {
        return Round::Done;
    };
    let chunk_timeout = copy
        .finished
        .provider
        .as_deref()
        .and_then(|p| runtime.config.providers.get(p))
        .map_or(Duration::from_secs(30), |p| p.settings.timeout);
    let limits = CopyLimits {
        max_bytes: settings.max_bytes,
        chunk_timeout,
    };
    let task_id = copy.finished.id.clone();
    let mut round = Round::Done;
    for (index, output) in copy.finished.outputs.iter_mut().enumerate() {
        if output.stored.is_some() {
            continue;
        }
        let source = output.url.clone();
        let started = std::time::Instant::now();
        let outcome = copy_one(state, storage, tenant, &task_id, index, &source, limits).await;
        let bytes = outcome.as_ref().map_or(0, |stored| stored.size_bytes);
        state
            .metrics
            .output_copied(outcome_word(&outcome), bytes, started.elapsed());
        match outcome {
            Ok(stored) => {
                output.provider_url = Some(source);
                output.url = String::new();
                output.stored = Some(true);
                output.size_bytes = Some(stored.size_bytes);
                output.sha256 = Some(stored.sha256);
                output.content_type = Some(stored.content_type);
                output.copy_error = None;
                tracing::info!(task = %task_id, index, size_bytes = stored.size_bytes, "output stored");
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(task = %task_id, index, error = %e, "output copy failed; will retry");
                output.copy_error = Some(e.to_string());
                round = Round::Again;
            }
            Err(e) => {
                tracing::warn!(task = %task_id, index, error = %e, "output copy failed for good");
                output.provider_url = Some(source);
                output.stored = Some(false);
                output.copy_error = Some(e.to_string());
            }
        }
    }
    round
}

/// One output, tried up to [`TRIES`] times while its failures are worth retrying.
async fn copy_one(
    state: &AppState,
    storage: &Storage,
    tenant: &str,
    task_id: &str,
    index: usize,
    source: &str,
    limits: CopyLimits,
) -> Result<taskgate_outputs::StoredOutput, CopyError> {
    let id = OutputId::new(tenant, task_id, u32::try_from(index).unwrap_or(u32::MAX))
        .map_err(CopyError::Key)?;
    let mut attempt = 0;
    loop {
        match copy_output(&state.outputs_http, storage, source, &id, limits).await {
            Err(e) if e.is_retryable() && attempt + 1 < TRIES => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500) * 2u32.pow(attempt)).await;
            }
            result => return result,
        }
    }
}

fn outcome_word(outcome: &Result<taskgate_outputs::StoredOutput, CopyError>) -> &'static str {
    match outcome {
        Ok(_) => "stored",
        Err(e) if e.is_retryable() => "retry",
        Err(_) => "failed",
    }
}

/// An output whose copy never succeeded: the provider's URL, with why.
fn settle_unstored(output: &mut Output) {
    if output.stored == Some(true) {
        return;
    }
    output.provider_url = Some(
        output
            .provider_url
            .clone()
            .unwrap_or_else(|| output.url.clone()),
    );
    output.stored = Some(false);
    if output.copy_error.is_none() {
        output.copy_error = Some("the outputs copy was given up".into());
    }
}

/// Renews the copy's lease (the watcher's) at a third of its length while the copy runs:
/// a long file outlasts any fixed lease, and a crashed copier's lease still runs out soon.
/// Stops on abort. The lease is not part of the task, so renewing leaves its version alone.
fn keep_lease(
    state: &AppState,
    record: &TaskRecord,
    lease: Duration,
) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    let (tenant, id) = (record.tenant.clone(), record.task.id.clone());
    tokio::spawn(async move {
        loop {
            let until = Utc::now() + to_chrono(lease);
            if let Err(e) = state
                .store
                .extend_lease(&tenant, &id, &state.replica_id, until)
                .await
            {
                tracing::warn!(task = %id, error = %e, "outputs copy: could not renew its lease");
            }
            tokio::time::sleep(lease / 3).await;
        }
    })
}
