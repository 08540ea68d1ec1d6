//! Durable outputs: the storage layer (issue 17).
//!
//! Provider output URLs expire; the gateway copies each output of a succeeded task into
//! storage it controls and hands clients URLs that keep working. This crate is that layer on
//! its own, with no HTTP server, store or task types: [`Storage`] (a local directory or an
//! S3-compatible bucket), [`copy_output`] (a streaming, bounded, hashed copy from a URL),
//! [`FileUrlSigner`] (signed `/v1/files` URLs for local storage) and the plain settings
//! structs `taskgate-config` fills in. The task lifecycle, the durable copy jobs and the routes
//! call it.

mod copy;
mod copy_error;
mod error;
mod key;
mod local_read;
mod media;
mod range;
pub mod redact;
mod settings;
mod signing;
mod storage;

pub use copy::{copy_output, CopyLimits, StoredOutput};
pub use copy_error::CopyError;
pub use error::{PutError, StorageError};
pub use key::{KeyError, ObjectKey, OutputId};
pub use media::{media_type, MediaType};
pub use range::ByteRange;
pub use settings::{
    OutputSettings, S3Settings, Secret, StorageKind, StorageSettings, DEFAULT_KEEP_FOR,
    DEFAULT_MAX_BYTES, DEFAULT_URL_TTL,
};
pub use signing::{FileUrlSigner, Forbidden};
pub use storage::{ObjectInfo, ObjectRead, Storage};
