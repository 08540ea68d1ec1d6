//! `431 request_header_fields_too_large` for a request with more header fields than
//! `server.max_header_count`, or more header bytes than `server.max_header_bytes`. The
//! HTTP layer's own ceilings sit above these (see `connections.rs`), so the gateway gives
//! the answer, in the contract's shape, with `x-request-id`.

use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response};
use axum::response::IntoResponse;
use futures::future::{Either, Lazy};
use tower::{Layer, Service};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy)]
pub struct HeaderLimitLayer {
    pub max_count: usize,
    pub max_bytes: usize,
}

impl<S> Layer<S> for HeaderLimitLayer {
    type Service = HeaderLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HeaderLimit {
            inner,
            limits: *self,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HeaderLimit<S> {
    inner: S,
    limits: HeaderLimitLayer,
}

impl HeaderLimitLayer {
    /// Each field counts as it is sent in HTTP/1: `name: value` and its line end.
    fn passes(&self, headers: &HeaderMap) -> bool {
        if headers.len() > self.max_count {
            return false;
        }
        let bytes: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        bytes <= self.max_bytes
    }
}

impl<S, B> Service<Request<B>> for HeaderLimit<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<Lazy<fn(&mut Context<'_>) -> Result<Response<Body>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.limits.passes(request.headers()) {
            Either::Right(self.inner.call(request))
        } else {
            // Made when polled, inside the request id's scope, so the body carries it.
            Either::Left(futures::future::lazy(|_| {
                Ok(ApiError::HeaderFieldsTooLarge.into_response())
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue, StatusCode};
    use std::convert::Infallible;
    use tower::ServiceExt;

    const LIMITS: HeaderLimitLayer = HeaderLimitLayer {
        max_count: 10,
        max_bytes: 200,
    };

    async fn status(headers: &[(String, String)]) -> StatusCode {
        let service = LIMITS.layer(tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(StatusCode::OK.into_response())
        }));
        let mut request = Request::get("/").body(Body::empty()).unwrap();
        for (name, value) in headers {
            request.headers_mut().append(
                HeaderName::try_from(name.as_str()).unwrap(),
                HeaderValue::try_from(value.as_str()).unwrap(),
            );
        }
        service.oneshot(request).await.unwrap().status()
    }

    fn fields(n: usize, value_len: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("x-h{i:02}"), "v".repeat(value_len)))
            .collect()
    }

    #[tokio::test]
    async fn at_the_limits_passes_one_past_either_is_431() {
        assert_eq!(status(&fields(10, 1)).await, StatusCode::OK);
        assert_eq!(
            status(&fields(11, 1)).await,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        // Five fields of `x-hNN: ` + 31 bytes + CRLF (40 each) are exactly 200 bytes.
        assert_eq!(status(&fields(5, 31)).await, StatusCode::OK);
        assert_eq!(
            status(&fields(5, 32)).await,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[tokio::test]
    async fn repeated_names_count_once_per_field() {
        let same: Vec<_> = (0..11)
            .map(|_| ("x-same".to_string(), "1".to_string()))
            .collect();
        assert_eq!(
            status(&same).await,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
}
