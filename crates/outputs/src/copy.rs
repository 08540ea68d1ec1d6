//! Copying a provider's output URL into storage.
//!
//! Provider URLs expire (Runway's within a day or two), so a succeeded task's outputs are
//! copied while they still work. The copy streams from the HTTP response into a multipart
//! upload: the file is never whole in memory. It stops at `max_bytes` and when no bytes
//! arrive within the chunk timeout, and it hashes what it stores, so the task can report the
//! `sha256`, `size_bytes` and `content_type` of its stored bytes.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use sha2::{Digest, Sha256};
use url::Url;

use crate::copy_error::CopyError;
use crate::error::PutError;
use crate::key::{ObjectKey, OutputId};
use crate::media::{media_type, MediaType};
use crate::redact::{redact_text, redact_url};
use crate::storage::Storage;

/// Bounds on one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyLimits {
    /// Largest output stored (`outputs.max_bytes`).
    pub max_bytes: u64,
    /// Longest wait for the response headers and for each chunk of the body (the provider's
    /// timeout).
    pub chunk_timeout: Duration,
}

/// The stored copy of one output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutput {
    pub key: ObjectKey,
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the stored bytes.
    pub sha256: String,
    pub content_type: String,
}

/// Fetches `source` with `client` and stores it as `output`, named `<index>.<ext>` after its
/// content type or URL. On error nothing is left stored under the key; the error says whether
/// to try again ([`CopyError::is_retryable`]) and never contains the URL's query.
///
/// `client` should follow redirects and have no overall timeout (large files take long; the
/// chunk timeout bounds stalls).
pub async fn copy_output(
    client: &reqwest::Client,
    storage: &Storage,
    source: &str,
    output: &OutputId,
    limits: CopyLimits,
) -> Result<StoredOutput, CopyError> {
    let url = Url::parse(source).map_err(|_| CopyError::InvalidUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CopyError::InvalidUrl);
    }
    let shown = redact_url(&url);
    let response = fetch(client, url.clone(), &shown, limits).await?;
    if let Some(length) = response.content_length() {
        if length > limits.max_bytes {
            return Err(too_big(&shown, limits));
        }
    }
    let header = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let MediaType { content_type, ext } = media_type(header, url.path());
    let key = output.clone().with_ext(ext)?;

    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let body = timed_body(response, shown.clone(), limits.chunk_timeout).map(|chunk| {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > limits.max_bytes {
            return Err(too_big(&shown, limits));
        }
        hasher.update(&chunk);
        Ok(chunk)
    });
    match storage.put_stream(&key, &content_type, body).await {
        Ok(_) => {}
        Err(PutError::Body(err)) => return Err(err),
        Err(PutError::Storage(err)) => return Err(err.into()),
    }
    Ok(StoredOutput {
        key,
        size_bytes: size,
        sha256: hex::encode(hasher.finalize()),
        content_type,
    })
}

/// Sends the GET and checks the status, within the chunk timeout.
async fn fetch(
    client: &reqwest::Client,
    url: Url,
    shown: &str,
    limits: CopyLimits,
) -> Result<reqwest::Response, CopyError> {
    let timeout = || CopyError::Timeout {
        url: shown.to_owned(),
        timeout: limits.chunk_timeout,
    };
    let response = tokio::time::timeout(limits.chunk_timeout, client.get(url).send())
        .await
        .map_err(|_| timeout())?
        .map_err(|err| {
            if err.is_timeout() {
                timeout()
            } else {
                CopyError::Connect {
                    url: shown.to_owned(),
                    message: describe(err),
                }
            }
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(CopyError::Status {
            url: shown.to_owned(),
            status: status.as_u16(),
        });
    }
    Ok(response)
}

/// The response body, failing when a chunk does not come within `timeout`.
fn timed_body(
    response: reqwest::Response,
    shown: String,
    timeout: Duration,
) -> impl Stream<Item = Result<Bytes, CopyError>> + Send {
    let chunks = response.bytes_stream().boxed();
    stream::unfold(Some(chunks), move |chunks| {
        let shown = shown.clone();
        async move {
            let mut chunks = chunks?;
            match tokio::time::timeout(timeout, chunks.next()).await {
                Err(_) => Some((
                    Err(CopyError::Timeout {
                        url: shown,
                        timeout,
                    }),
                    None,
                )),
                Ok(None) => None,
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(chunks))),
                Ok(Some(Err(err))) => {
                    let message = describe(err);
                    Some((
                        Err(CopyError::Body {
                            url: shown,
                            message,
                        }),
                        None,
                    ))
                }
            }
        }
    })
}

fn too_big(shown: &str, limits: CopyLimits) -> CopyError {
    CopyError::TooBig {
        url: shown.to_owned(),
        max_bytes: limits.max_bytes,
    }
}

/// The error and its causes on one line, without the request URL.
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    redact_text(&message)
}
