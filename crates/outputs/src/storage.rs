//! Where durable outputs live: a local directory or an S3-compatible bucket.
//!
//! One small type over `object_store`, so the rest of the gateway speaks in [`ObjectKey`]s and
//! never in paths or buckets. Uploads are multipart and streamed: at most a few parts sit in
//! memory, whatever the object's size. A failed upload is aborted; on S3, parts of an upload
//! whose future is dropped mid-way are only removed by the bucket's lifecycle rule
//! (`AbortIncompleteMultipartUpload`), which deployments should set.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, Stream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, GetOptions, GetRange, GetResultPayload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, WriteMultipart,
};
use url::Url;

use crate::error::{PutError, StorageError};
use crate::key::{KeyPrefix, ObjectKey};
use crate::local_read::file_range;
use crate::range::ByteRange;
use crate::settings::{S3Settings, StorageKind, StorageSettings};

/// Size of each uploaded part to S3 (its minimum is 5 MiB, except for the last part).
const S3_PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once per S3 upload: with the part being filled, the memory bound.
const S3_PARTS_IN_FLIGHT: usize = 2;
/// A local file takes parts of any size: small ones, one at a time, keep a copy's memory to
/// about a MiB whatever the file's size.
const LOCAL_PART_SIZE: usize = 1024 * 1024;
const LOCAL_PARTS_IN_FLIGHT: usize = 1;

/// A storage backend, cheap to clone (the clients inside are shared).
#[derive(Clone)]
pub struct Storage {
    backend: Backend,
    prefix: KeyPrefix,
}

#[derive(Clone)]
enum Backend {
    Local(Arc<LocalFileSystem>, std::path::PathBuf),
    S3(Arc<AmazonS3>, String),
}

/// What storage knows about one stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: ObjectKey,
    pub size: u64,
    pub e_tag: Option<String>,
    pub last_modified: DateTime<Utc>,
}

/// An object's bytes, or part of them, being read.
pub struct ObjectRead {
    /// The whole object's size (for `Content-Range: bytes a-b/size`).
    pub size: u64,
    /// The half-open range `body` yields.
    pub range: std::ops::Range<u64>,
    pub e_tag: Option<String>,
    pub last_modified: DateTime<Utc>,
    pub body: BoxStream<'static, Result<Bytes, StorageError>>,
}

impl fmt::Debug for ObjectRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectRead")
            .field("size", &self.size)
            .field("range", &self.range)
            .field("e_tag", &self.e_tag)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            Backend::Local(_, root) => f
                .debug_struct("Storage::Local")
                .field("path", root)
                .finish(),
            Backend::S3(_, bucket) => f
                .debug_struct("Storage::S3")
                .field("bucket", bucket)
                .field("prefix", &self.prefix.as_path().unwrap_or_default())
                .finish(),
        }
    }
}

impl Storage {
    /// Builds the storage `settings` describe; makes the local directory if it is missing.
    pub fn from_settings(settings: &StorageSettings) -> Result<Storage, StorageError> {
        match &settings.kind {
            StorageKind::Local { path } => Storage::local(path),
            StorageKind::S3(s3) => Storage::s3(s3),
        }
    }

    /// Objects as files below `path`, `<tenant>/<task id>/<index>.<ext>`.
    pub fn local(path: impl AsRef<std::path::Path>) -> Result<Storage, StorageError> {
        let path = path.as_ref();
        let settings_error = |err: &dyn fmt::Display| {
            StorageError::Settings(format!("local storage at {}: {err}", path.display()))
        };
        std::fs::create_dir_all(path).map_err(|err| settings_error(&err))?;
        let store = LocalFileSystem::new_with_prefix(path)
            .map_err(|err| settings_error(&err))?
            .with_automatic_cleanup(true);
        Ok(Storage {
            backend: Backend::Local(Arc::new(store), path.to_path_buf()),
            prefix: KeyPrefix::default(),
        })
    }

    /// Objects in an S3-compatible bucket, `<prefix>/<tenant>/<task id>/<index>.<ext>`.
    pub fn s3(settings: &S3Settings) -> Result<Storage, StorageError> {
        let prefix = KeyPrefix::parse(&settings.prefix)?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region);
        builder = match &settings.endpoint {
            Some(endpoint) => builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.to_ascii_lowercase().starts_with("http://"))
                .with_virtual_hosted_style_request(false),
            None => builder.with_virtual_hosted_style_request(true),
        };
        builder = match (&settings.access_key_id, &settings.secret_access_key) {
            (Some(id), Some(secret)) => builder
                .with_access_key_id(id.expose())
                .with_secret_access_key(secret.expose()),
            (None, None) => builder,
            _ => {
                return Err(StorageError::Settings(
                    "s3 storage needs both access_key_id and secret_access_key, or neither"
                        .to_owned(),
                ))
            }
        };
        let store = builder
            .build()
            .map_err(|err| StorageError::from_store("configure", "", err))?;
        Ok(Storage {
            backend: Backend::S3(Arc::new(store), settings.bucket.clone()),
            prefix,
        })
    }

    /// `"local"` or `"s3"`, for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Local(..) => "local",
            Backend::S3(..) => "s3",
        }
    }

    /// The object's full key in the bucket or directory: `<prefix>/<tenant>/<task>/<index>.<ext>`.
    pub fn full_key(&self, key: &ObjectKey) -> String {
        self.prefix.join(key)
    }

    /// Stores `body` under `key` as a multipart upload, holding at most a few parts in memory;
    /// returns the number of bytes stored. On any error (the body's or storage's) the upload is
    /// aborted and nothing is left under `key` by this call.
    pub async fn put_stream<S, E>(
        &self,
        key: &ObjectKey,
        content_type: &str,
        body: S,
    ) -> Result<u64, PutError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
    {
        let full = self.full_key(key);
        let location = Path::from(full.as_str());
        let mut options = PutMultipartOptions::default();
        // Local files have no attributes; the caller records the type with the task.
        if let Backend::S3(..) = self.backend {
            options
                .attributes
                .insert(Attribute::ContentType, content_type.to_owned().into());
        }
        let upload = self
            .store()
            .put_multipart_opts(&location, options)
            .await
            .map_err(|err| StorageError::from_store("put", &full, err))?;
        let (part_size, parts_in_flight) = match self.backend {
            Backend::S3(..) => (S3_PART_SIZE, S3_PARTS_IN_FLIGHT),
            _ => (LOCAL_PART_SIZE, LOCAL_PARTS_IN_FLIGHT),
        };
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
        let mut body = std::pin::pin!(body);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    abort(writer, &full).await;
                    return Err(PutError::Body(err));
                }
            };
            if let Err(err) = writer.wait_for_capacity(parts_in_flight).await {
                abort(writer, &full).await;
                return Err(StorageError::from_store("put", &full, err).into());
            }
            size += chunk.len() as u64;
            writer.put(chunk);
        }
        writer
            .finish()
            .await
            .map_err(|err| StorageError::from_store("put", &full, err))?;
        Ok(size)
    }

    /// Reads the object, or the part of it `range` names, as a stream; the object's size and
    /// identity come along for the response headers.
    pub async fn get_range(
        &self,
        key: &ObjectKey,
        range: Option<ByteRange>,
    ) -> Result<ObjectRead, StorageError> {
        let full = self.full_key(key);
        let location = Path::from(full.as_str());
        let meta = self
            .store()
            .head(&location)
            .await
            .map_err(|err| StorageError::from_store("head", &full, err))?;
        let size = meta.size;
        let wanted = match range {
            None => 0..size,
            Some(range) => range
                .resolve(size)
                .ok_or(StorageError::RangeNotSatisfiable { size })?,
        };
        let body = if wanted.is_empty() {
            stream::empty().boxed()
        } else {
            let options = GetOptions::new().with_range(Some(GetRange::Bounded(wanted.clone())));
            let result = self
                .store()
                .get_opts(&location, options)
                .await
                .map_err(|err| StorageError::from_store("get", &full, err))?;
            match result.payload {
                GetResultPayload::File(file, _) => file_range(file, wanted.clone()),
                GetResultPayload::Stream(body) => body
                    .map(move |chunk| {
                        chunk.map_err(|err| StorageError::from_store("read", &full, err))
                    })
                    .boxed(),
            }
        };
        Ok(ObjectRead {
            size,
            range: wanted,
            e_tag: meta.e_tag,
            last_modified: meta.last_modified,
            body,
        })
    }

    /// Size, entity tag and modification time of a stored object.
    pub async fn head(&self, key: &ObjectKey) -> Result<ObjectInfo, StorageError> {
        let full = self.full_key(key);
        let meta = self
            .store()
            .head(&Path::from(full.as_str()))
            .await
            .map_err(|err| StorageError::from_store("head", &full, err))?;
        Ok(info(key.clone(), meta))
    }

    /// Deletes the object; deleting one that is not there succeeds (retention may repeat).
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        let full = self.full_key(key);
        match self.store().delete(&Path::from(full.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(StorageError::from_store("delete", &full, err)),
        }
    }

    /// Every output object last modified before `cutoff`, as a stream (a bucket may hold
    /// millions). Objects under the prefix that are not output keys are never listed, so
    /// retention cannot delete them.
    pub fn list_older_than(
        &self,
        cutoff: DateTime<Utc>,
    ) -> BoxStream<'static, Result<ObjectInfo, StorageError>> {
        let prefix = self.prefix.clone();
        let listed = self.store().list(prefix.as_path().map(Path::from).as_ref());
        listed
            .filter_map(move |item| {
                let found = match item {
                    Err(err) => Some(Err(StorageError::from_store("list", "", err))),
                    Ok(meta) if meta.last_modified < cutoff => prefix
                        .strip(meta.location.as_ref())
                        .and_then(|relative| ObjectKey::parse(relative).ok())
                        .map(|key| Ok(info(key, meta))),
                    Ok(_) => None,
                };
                std::future::ready(found)
            })
            .boxed()
    }

    /// A URL that lets anyone `GET` the object for `ttl` (S3 allows at most 7 days). Local
    /// storage has none: its files are served by the gateway with [`crate::FileUrlSigner`].
    pub async fn presigned_get(&self, key: &ObjectKey, ttl: Duration) -> Result<Url, StorageError> {
        let Backend::S3(store, _) = &self.backend else {
            return Err(StorageError::Unsupported {
                operation: "presigned_get",
                kind: self.kind(),
            });
        };
        let full = self.full_key(key);
        store
            .signed_url(reqwest::Method::GET, &Path::from(full.as_str()), ttl)
            .await
            .map_err(|err| StorageError::from_store("presign", &full, err))
    }

    fn store(&self) -> Arc<dyn ObjectStore> {
        match &self.backend {
            Backend::Local(store, _) => store.clone(),
            Backend::S3(store, _) => store.clone(),
        }
    }
}

fn info(key: ObjectKey, meta: ObjectMeta) -> ObjectInfo {
    ObjectInfo {
        key,
        size: meta.size,
        e_tag: meta.e_tag,
        last_modified: meta.last_modified,
    }
}

async fn abort(writer: WriteMultipart, full: &str) {
    if let Err(err) = writer.abort().await {
        let err = StorageError::from_store("abort", full, err);
        tracing::warn!(key = full, error = %err, "could not abort a failed upload");
    }
}
