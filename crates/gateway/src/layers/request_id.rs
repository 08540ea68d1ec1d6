//! `x-request-id`: echoed when the client sent a usable one, generated otherwise, on every
//! response; also made available to the code serving the request (error bodies, logs).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderName, HeaderValue, Request, Response};
use tower::{Layer, Service};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied id we echo; longer ones are replaced.
const MAX_ID_LEN: usize = 128;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The request's id, as an extension for handlers and the trace span.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

fn usable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok =
        !text.is_empty() && text.len() <= MAX_ID_LEN && text.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| text.to_string())
}

impl<S, B, RB> Service<Request<B>> for RequestIdService<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = request
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(usable)
            .unwrap_or_else(|| format!("req_{}", ulid::Ulid::new()));
        request.extensions_mut().insert(RequestId(id.clone()));
        let future = self.inner.call(request);
        Box::pin(REQUEST_ID.scope(id.clone(), async move {
            let mut response = future.await?;
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(X_REQUEST_ID.clone(), value);
            }
            Ok(response)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use std::convert::Infallible;
    use tower::ServiceExt;

    async fn echo(_: Request<Body>) -> Result<Response<Body>, Infallible> {
        Ok(Response::new(Body::from(
            current_request_id().unwrap_or_default(),
        )))
    }

    #[tokio::test]
    async fn echoes_a_usable_id_and_replaces_a_bad_one() {
        let svc = RequestIdLayer.layer(tower::service_fn(echo));
        let req = Request::builder()
            .header("x-request-id", "abc-1")
            .body(Body::empty())
            .unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.headers()["x-request-id"], "abc-1");
        let req = Request::builder()
            .header("x-request-id", "has space")
            .body(Body::empty())
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(id.starts_with("req_"));
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(body, id.as_bytes());
    }
}
