//! Gives every error the contract's shape: responses the framework or a layer made with a
//! bare status (unknown route, 405, 413, timeout, a caught panic) are replaced by the
//! matching [`ApiError`] answer. Handler errors already have it and pass untouched, and so
//! does a provider's own answer passed through by `/proxy` (marked [`PassedThrough`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{header, Request, Response};
use axum::response::IntoResponse;
use tower::{Layer, Service};

use crate::error::ApiError;
use crate::passthrough::PassedThrough;

#[derive(Debug, Clone, Copy)]
pub struct RescueLayer {
    /// For the 413 message.
    pub body_limit: usize,
}

impl<S> Layer<S> for RescueLayer {
    type Service = Rescue<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Rescue {
            inner,
            body_limit: self.body_limit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rescue<S> {
    inner: S,
    body_limit: usize,
}

fn is_json(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

impl<S, B, RB> Service<Request<B>> for Rescue<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Send + 'static,
    S::Future: Send + 'static,
    RB: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    RB::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        let limit = self.body_limit;
        Box::pin(async move {
            let response = future.await?.map(Body::new);
            let status = response.status();
            let passed_through = response.extensions().get::<PassedThrough>().is_some();
            if !(status.is_client_error() || status.is_server_error())
                || is_json(&response)
                || passed_through
            {
                return Ok(response);
            }
            Ok(match ApiError::for_bare_status(status, limit) {
                Some(error) => {
                    let mut rescued = error.into_response();
                    if let Some(allow) = response.headers().get(header::ALLOW) {
                        rescued.headers_mut().insert(header::ALLOW, allow.clone());
                    }
                    rescued
                }
                None => response,
            })
        })
    }
}
