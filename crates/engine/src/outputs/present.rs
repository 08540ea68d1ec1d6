//! What a client is shown of a stored output: a URL that works now. `local` storage gets a
//! gateway URL signed for `outputs.url_ttl`; `s3` a presigned URL as long. Made at each
//! read (and for each webhook), so a task read after its URL expired gets a fresh one.
//! A copy older than `outputs.keep_for` is gone: `expired: true` and no URL.

use chrono::{DateTime, Utc};
use taskgate_core::{Output, Task};
use taskgate_outputs::{FileUrlSigner, Storage};

use crate::runtime::Runtime;
use crate::state::AppState;
use crate::tasks::refresh::to_chrono;

/// What signed `/v1/files` URLs need: the key (the config's `outputs.signing_key`, else
/// the one kept in the store for every replica) and the gateway's address for clients.
#[derive(Clone)]
pub struct FilesAccess {
    /// The key kept in the store (`TaskStore::shared_secret`).
    pub shared_key: Vec<u8>,
    /// `server.public_url` when set wins over this: `http://` + the tenant listener.
    pub listener_base: String,
}

impl std::fmt::Debug for FilesAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesAccess")
            .field("listener_base", &self.listener_base)
            .finish_non_exhaustive()
    }
}

/// The name of the shared signing key in the store.
pub const SHARED_KEY_NAME: &str = "files_url_key";

impl FilesAccess {
    /// The signer of the running config.
    pub fn signer(&self, runtime: &Runtime) -> FileUrlSigner {
        match runtime
            .config
            .outputs
            .as_ref()
            .and_then(|o| o.signing_key.as_ref())
        {
            Some(key) => FileUrlSigner::new(key.expose().as_bytes()),
            None => FileUrlSigner::new(&self.shared_key),
        }
    }

    /// Where clients reach the tenant listener.
    pub fn base(&self, runtime: &Runtime) -> String {
        match &runtime.config.server.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => self.listener_base.clone(),
        }
    }
}

/// Fills in the URLs of `task`'s stored outputs for its tenant. Returns until when the
/// answer stays good to hand out again: half the URLs' life, and never past the copies'
/// deletion (a cached answer must not outlive either).
pub async fn present(
    state: &AppState,
    runtime: &Runtime,
    tenant: &str,
    task: &mut Task,
) -> Option<DateTime<Utc>> {
    if !task.outputs.iter().any(|o| o.stored == Some(true)) {
        return None;
    }
    let now = Utc::now();
    let (Some(settings), Some(storage)) =
        (runtime.config.outputs.as_ref(), runtime.outputs.as_ref())
    else {
        // Outputs were turned off: only the provider's URL is left to give.
        for output in task.outputs.iter_mut().filter(|o| o.stored == Some(true)) {
            output.url = output.provider_url.clone().unwrap_or_default();
        }
        return None;
    };
    let stored_at = task.finished_at.unwrap_or(task.updated_at);
    let expired = stored_at + to_chrono(settings.keep_for) <= now;
    let expires = now + to_chrono(settings.url_ttl);
    let good_until =
        (now + to_chrono(settings.url_ttl / 2)).min(stored_at + to_chrono(settings.keep_for));
    let mut earliest = None;
    let (id, outputs) = (task.id.clone(), &mut task.outputs);
    for (index, output) in outputs.iter_mut().enumerate() {
        if output.stored != Some(true) {
            continue;
        }
        if expired {
            output.expired = Some(true);
            output.url = String::new();
            output.expires_at = None;
            continue;
        }
        match url_for(state, runtime, storage, tenant, &id, index, output, expires).await {
            Some(url) => {
                output.url = url;
                output.expires_at = Some(expires);
                earliest = Some(good_until);
            }
            None => output.url = output.provider_url.clone().unwrap_or_default(),
        }
    }
    earliest
}

#[allow(clippy::too_many_arguments)]
async fn url_for(
    state: &AppState,
    runtime: &Runtime,
    storage: &Storage,
    tenant: &str,
    task_id: &str,
    index: usize,
    output: &Output,
    expires: DateTime<Utc>,
) -> Option<String> {
    if storage.kind() == "s3" {
        let key = super::object_key(tenant, task_id, index, output).ok()?;
        let ttl = (expires - Utc::now()).to_std().ok()?;
        return match storage.presigned_get(&key, ttl).await {
            Ok(url) => Some(url.to_string()),
            Err(e) => {
                tracing::warn!(task = %task_id, index, error = %e, "could not presign an output URL");
                None
            }
        };
    }
    let files = &state.files;
    let index = u32::try_from(index).ok()?;
    let expires = u64::try_from(expires.timestamp()).ok()?;
    let path = files
        .signer(runtime)
        .path_and_query(tenant, task_id, index, expires);
    Some(format!("{}{path}", files.base(runtime)))
}
