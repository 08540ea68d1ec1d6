//! Retention: stored copies older than `outputs.keep_for` are deleted. Every replica may
//! run it; deleting is idempotent. Reads stop handing out a URL for such a copy on their
//! own (by the task's end time), so a deletion that runs late exposes nothing.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::watch;

use crate::state::AppState;
use crate::tasks::refresh::to_chrono;

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        let runtime = state.runtime.load_full();
        let pause = match (&runtime.outputs, &runtime.config.outputs) {
            (Some(storage), Some(settings)) => {
                let cutoff = Utc::now() - to_chrono(settings.keep_for);
                let mut old = storage.list_older_than(cutoff);
                let mut deleted = 0u64;
                while let Some(found) = old.next().await {
                    match found {
                        Ok(info) => match storage.delete(&info.key).await {
                            Ok(()) => deleted += 1,
                            Err(e) => {
                                tracing::warn!(key = %info.key, error = %e, "retention could not delete an output")
                            }
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "retention could not list outputs");
                            break;
                        }
                    }
                }
                if deleted > 0 {
                    tracing::info!(deleted, "retention deleted outputs past keep_for");
                }
                (settings.keep_for / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
            }
            _ => Duration::from_secs(60),
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
