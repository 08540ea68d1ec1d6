//! The client's request body as a stream for the upstream request: chunks go on as they
//! arrive, never buffered whole. The gateway's body limit (the `Limited` body from
//! `RequestBodyLimitLayer`) and its idle bound (`IdleBody`) still apply; when the client's
//! side fails — over the limit, cut off, or stalled — that is recorded in its
//! [`ClientBody`], so it is answered as the client's fault and never counted against the
//! provider.

use axum::body::Body;
use futures::StreamExt;
use http_body::Body as _;

use crate::client_body::{BodyFault, ClientBody};

/// `None` when the request has no body (a GET), so none is sent; else the body as a stream.
pub fn streamed(body: Body, client: &ClientBody) -> Option<reqwest::Body> {
    if body.is_end_stream() || body.size_hint().exact() == Some(0) {
        return None;
    }
    let client = client.clone();
    let stream = body.into_data_stream().map(move |chunk| {
        if let Err(e) = &chunk {
            client.set(BodyFault::of(e));
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
        let client = ClientBody::default();
        let streamed = streamed(body, &client).unwrap();
        let result = http_body_util::BodyExt::collect(streamed).await;
        assert!(result.is_err());
        assert_eq!(client.fault(), Some(BodyFault::TooLarge));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_flagged_stalled() {
        let first = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"ab"))]);
        let body = Body::from_stream(first.chain(futures::stream::pending()));
        let client = ClientBody::default();
        let idle = crate::client_body::IdleBody::new(
            body,
            std::time::Duration::from_secs(10),
            client.clone(),
        );
        let result = streamed(Body::new(idle), &client).unwrap().collect().await;
        assert!(result.is_err());
        assert_eq!(client.fault(), Some(BodyFault::Stalled));
    }

    #[tokio::test]
    async fn a_body_within_the_limit_streams_whole_and_an_empty_one_is_none() {
        let body = Body::new(Limited::new(Body::from(vec![1u8; 2000]), 2500));
        let client = ClientBody::default();
        let bytes = streamed(body, &client).unwrap().collect().await.unwrap();
        assert_eq!(bytes.to_bytes().len(), 2000);
        assert_eq!(client.fault(), None);
        assert!(streamed(Body::empty(), &client).is_none());
    }
}
