//! The request's two time bounds. The whole request gets `server.request_timeout`; a
//! request body gets an idle bound of its own, `server.body_read_timeout`
//! ([`IdleBody`](crate::client_body::IdleBody)), and its [`ClientBody`] record goes into the
//! request's extensions for whoever reads it.
//!
//! When the whole bound runs out, the answer says whose time it was: `408
//! request_timeout` if the gateway was at that moment waiting for the client's body (a
//! slow upload, or a stall that began late), `504 upstream_timeout` otherwise.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::client_body::{ClientBody, IdleBody};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    /// `server.request_timeout`.
    pub request: Duration,
    /// `server.body_read_timeout`.
    pub body_idle: Duration,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            bounds: *self,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    bounds: DeadlineLayer,
}

impl<S, B> Service<Request<B>> for Deadline<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        // A request without a body (most reads) gets no timer and no record.
        let (body, client) = if body.is_end_stream() {
            (Body::new(body), None)
        } else {
            let client = ClientBody::default();
            parts.extensions.insert(client.clone());
            let idle = IdleBody::new(body, self.bounds.body_idle, client.clone());
            (Body::new(idle), Some(client))
        };
        DeadlineFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            sleep: tokio::time::sleep(self.bounds.request),
            client,
        }
    }
}

pin_project! {
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        client: Option<ClientBody>,
    }
}

impl<F, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        if this.sleep.poll(cx).is_pending() {
            return Poll::Pending;
        }
        let error = if this.client.as_ref().is_some_and(ClientBody::waiting) {
            ApiError::RequestTimeout
        } else {
            ApiError::request_took_too_long()
        };
        Poll::Ready(Ok(error.into_response()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use bytes::Bytes;
    use std::convert::Infallible;
    use tower::ServiceExt;

    use crate::client_body::is_stalled;
    use crate::error::ErrorCode;

    const BOUNDS: DeadlineLayer = DeadlineLayer {
        request: Duration::from_secs(60),
        body_idle: Duration::from_secs(10),
    };

    /// Reads the whole body, then works for `work` before answering 200; a failed read is
    /// answered 408 when it was a stall.
    fn reads_then_works(
        work: Duration,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
        tower::service_fn(move |request: Request<Body>| async move {
            assert!(request.extensions().get::<ClientBody>().is_some());
            match axum::body::to_bytes(request.into_body(), usize::MAX).await {
                Ok(_) => {
                    tokio::time::sleep(work).await;
                    Ok(StatusCode::OK.into_response())
                }
                Err(e) if is_stalled(&e) => Ok(ApiError::RequestTimeout.into_response()),
                Err(_) => Ok(StatusCode::BAD_REQUEST.into_response()),
            }
        })
    }

    /// A body that sends `first`, then nothing until the test drops the sender.
    fn stalling(first: &'static [u8]) -> (tokio::sync::mpsc::Sender<Bytes>, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let head = futures::stream::iter([Ok::<_, Infallible>(Bytes::from_static(first))]);
        let rest =
            futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
            );
        (tx, Body::from_stream(futures::StreamExt::chain(head, rest)))
    }

    fn code(response: &Response<Body>) -> Option<&'static str> {
        response.extensions().get::<ErrorCode>().map(|c| c.0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_a_408_at_the_idle_bound() {
        let service = BOUNDS.layer(reads_then_works(Duration::ZERO));
        let (_tx, body) = stalling(b"{\"type\":");
        let started = tokio::time::Instant::now();
        let response = service
            .oneshot(Request::post("/").body(body).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn the_whole_bound_waiting_on_the_client_is_a_408_not_a_504() {
        // As when a stall begins late in the request: the whole bound runs out first.
        let bounds = DeadlineLayer {
            request: Duration::from_secs(10),
            body_idle: Duration::from_secs(30),
        };
        let service = bounds.layer(reads_then_works(Duration::ZERO));
        let (_tx, body) = stalling(b"{");
        let response = service
            .oneshot(Request::post("/").body(body).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(code(&response), Some("request_timeout"));
        assert_eq!(response.headers()["connection"], "close");
    }

    #[tokio::test(start_paused = true)]
    async fn the_whole_bound_while_the_gateway_works_is_a_504() {
        let service = BOUNDS.layer(reads_then_works(Duration::from_secs(61)));
        let response = service
            .oneshot(Request::post("/").body(Body::from("{}")).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(code(&response), Some("upstream_timeout"));
        let service = BOUNDS.layer(tower::service_fn(|_: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(61)).await;
            Ok::<_, Infallible>(StatusCode::OK.into_response())
        }));
        let response = service
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_within_both_bounds_is_untouched() {
        let service = BOUNDS.layer(reads_then_works(Duration::from_secs(59)));
        let response = service
            .oneshot(Request::post("/").body(Body::from("{}")).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
