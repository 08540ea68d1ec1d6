//! Request metrics: every answered request is counted and timed by tenant, route template
//! and status class (`taskgate_http_requests_total`, `taskgate_http_request_duration_seconds`),
//! and a refusal by a limit is counted in `taskgate_rate_limited_total`.
//!
//! The route is axum's `MatchedPath` (a template like `/v1/tasks/{id}`), never the raw
//! path; the tenant comes from the response (set by the auth layer); the error code from
//! the response too (set where errors become HTTP).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use tower::{Layer, Service};

use crate::error::ErrorCode;
use crate::layers::auth::AuthenticatedTenant;
use crate::metrics::{LimitKind, Metrics};

/// The `route` label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> MetricsLayer {
        MetricsLayer { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequestMetrics<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, RB> Service<Request<B>> for RequestMetrics<S>
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

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED.to_string(), |p| p.as_str().to_string());
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let tenant = response
                .extensions()
                .get::<AuthenticatedTenant>()
                .map_or("", |t| t.0.as_str());
            metrics.http_request(
                tenant,
                &route,
                response.status().as_u16(),
                started.elapsed(),
            );
            let limit = match response.extensions().get::<ErrorCode>() {
                Some(ErrorCode("rate_limited")) => Some(LimitKind::Rate),
                Some(ErrorCode("concurrency_limited")) => Some(LimitKind::Concurrency),
                _ => None,
            };
            if let Some(kind) = limit {
                metrics.rate_limited(tenant, kind);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use axum::body::Body;
    use axum::response::IntoResponse;
    use std::convert::Infallible;
    use tower::ServiceExt;

    #[tokio::test]
    async fn counts_by_tenant_route_and_status_and_limits_by_kind() {
        let metrics = Arc::new(Metrics::new());
        let svc =
            MetricsLayer::new(metrics.clone()).layer(tower::service_fn(|_: Request<Body>| async {
                let mut res = ApiError::ConcurrencyLimited.into_response();
                res.extensions_mut()
                    .insert(AuthenticatedTenant("acme".into()));
                Ok::<_, Infallible>(res)
            }));
        let res = svc.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(res.status(), 429);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"taskgate_http_requests_total{tenant="acme",route="unmatched",status_class="4xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"taskgate_rate_limited_total{tenant="acme",kind="concurrency"} 1"#),
            "{text}"
        );
    }
}
