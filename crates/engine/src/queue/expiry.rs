//! Queued tasks the watcher claimed: their wait or their dispatch ran out of time.

use chrono::Utc;
use taskgate_core::TaskError;
use taskgate_store::{QueueState, TaskRecord};

use super::dispatch::queue_deadline;
use super::transitions::fail;
use crate::runtime::Runtime;
use crate::state::AppState;

/// Settles a queued task the watcher claimed: a waiting one past `tasks.max_queued_for`
/// fails with `queue_timeout` (else it is looked at again then); one whose dispatch lease
/// ran out fails with `create_outcome_unknown`: its create may have reached the provider,
/// and sending it again could run it twice.
pub async fn expire(state: &AppState, runtime: &Runtime, mut record: TaskRecord) {
    let Some(entry) = record.queue.clone() else {
        return;
    };
    let now = Utc::now();
    match entry.state {
        QueueState::Waiting => {
            let deadline = queue_deadline(runtime, &record);
            if now < deadline {
                record.lease_owner = None;
                record.lease_until = None;
                record.next_check_at = Some(deadline);
                if let Err(e) = state.store.update(&record).await {
                    tracing::warn!(task = %record.task.id, error = %e, "could not reschedule a queued task");
                }
                return;
            }
            let error = TaskError::new(
                TaskError::QUEUE_TIMEOUT,
                "the task waited in the gateway's queue longer than tasks.max_queued_for",
            );
            fail(state, record, None, error).await;
        }
        QueueState::Dispatching { provider } => {
            tracing::error!(task = %record.task.id, provider = %provider, "a dispatch did not finish (its replica stopped?); the create's outcome is unknown");
            let error = TaskError::new(
                TaskError::CREATE_OUTCOME_UNKNOWN,
                "the gateway stopped while sending the task; it was not sent again",
            );
            fail(state, record, Some(provider), error).await;
        }
    }
}
