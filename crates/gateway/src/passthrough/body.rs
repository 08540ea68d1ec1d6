//! The client's request body as a stream for the upstream request: chunks go on as they
//! arrive, never buffered whole. The gateway's body limit (the `Limited` body from
//! `RequestBodyLimitLayer`) still applies; when the client's side fails — over the limit,
//! or cut off — that is remembered, so it is answered as the client's fault and never
//! counted against the provider.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use axum::body::Body;
use futures::StreamExt;
use http_body::Body as _;

use crate::extract::is_length_limit;

/// What went wrong with the client's body, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    /// Larger than `server.max_body_bytes`.
    TooLarge,
    /// The client stopped sending mid-body.
    Broken,
}

/// Shared between the body stream and the handler that judges a failed call.
#[derive(Debug, Clone, Default)]
pub struct BodyWatch(Arc<AtomicU8>);

impl BodyWatch {
    fn set(&self, fault: BodyFault) {
        let code = match fault {
            BodyFault::TooLarge => 1,
            BodyFault::Broken => 2,
        };
        let _ = self
            .0
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
    }

    pub fn fault(&self) -> Option<BodyFault> {
        match self.0.load(Ordering::Acquire) {
            1 => Some(BodyFault::TooLarge),
            2 => Some(BodyFault::Broken),
            _ => None,
        }
    }
}

/// `None` when the request has no body (a GET), so none is sent; else the body as a stream.
pub fn streamed(body: Body, watch: &BodyWatch) -> Option<reqwest::Body> {
    if body.is_end_stream() || body.size_hint().exact() == Some(0) {
        return None;
    }
    let watch = watch.clone();
    let stream = body.into_data_stream().map(move |chunk| {
        if let Err(e) = &chunk {
            watch.set(if is_length_limit(e) {
                BodyFault::TooLarge
            } else {
                BodyFault::Broken
            });
        }
        chunk
    });
    Some(reqwest::Body::wrap_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Limited};

    #[tokio::test]
    async fn an_oversized_body_is_flagged_too_large() {
        let chunks = futures::stream::iter(
            (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 1000]))),
        );
        let body = Body::new(Limited::new(Body::from_stream(chunks), 2500));
        let watch = BodyWatch::default();
        let streamed = streamed(body, &watch).unwrap();
        let result = http_body_util::BodyExt::collect(streamed).await;
        assert!(result.is_err());
        assert_eq!(watch.fault(), Some(BodyFault::TooLarge));
    }

    #[tokio::test]
    async fn a_body_within_the_limit_streams_whole_and_an_empty_one_is_none() {
        let body = Body::new(Limited::new(Body::from(vec![1u8; 2000]), 2500));
        let watch = BodyWatch::default();
        let bytes = streamed(body, &watch).unwrap().collect().await.unwrap();
        assert_eq!(bytes.to_bytes().len(), 2000);
        assert_eq!(watch.fault(), None);
        assert!(streamed(Body::empty(), &watch).is_none());
    }
}
