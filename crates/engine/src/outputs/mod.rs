//! Durable outputs in the task's life: a success is held back while its outputs are copied
//! into the gateway's storage ([`hold`]), the copy runs as durable work the watcher claims
//! ([`copy`]), clients get URLs that keep working ([`present`]), and old copies go
//! ([`retention`]). The storage itself is `taskgate-outputs`.

pub mod copy;
pub mod hold;
pub mod present;
pub mod retention;

use taskgate_core::Output;
use taskgate_outputs::{media_type, KeyError, ObjectKey};

use crate::runtime::Runtime;

/// Whether `tenant`'s outputs are copied under the running config.
pub fn wanted(runtime: &Runtime, tenant: &str) -> bool {
    runtime.outputs.is_some() && runtime.tenant(tenant).is_some_and(|t| t.store_outputs)
}

/// Where output `index` of the task is kept: its extension follows the stored media type.
pub fn object_key(
    tenant: &str,
    task_id: &str,
    index: usize,
    output: &Output,
) -> Result<ObjectKey, KeyError> {
    let ext = media_type(output.content_type.as_deref(), "").ext;
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    ObjectKey::new(tenant, task_id, index, ext)
}
