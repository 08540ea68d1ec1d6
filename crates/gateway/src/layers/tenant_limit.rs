//! The tenant rate limit: every request of a tenant takes one unit of its GCRA budget.
//! Over the limit: `429 rate_limited` with `Retry-After`. Every answer carries the IETF
//! `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use axum::response::IntoResponse;
use tower::{Layer, Service};

use crate::error::ApiError;
use crate::layers::auth::Caller;
use crate::traffic::budget::{seconds_to_full, Decision};
use crate::traffic::gate::RateGate;

static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

#[derive(Clone)]
pub struct TenantLimitLayer {
    gate: RateGate,
}

impl TenantLimitLayer {
    pub fn new(gate: RateGate) -> TenantLimitLayer {
        TenantLimitLayer { gate }
    }
}

impl<S> Layer<S> for TenantLimitLayer {
    type Service = TenantLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantLimit {
            inner,
            gate: self.gate.clone(),
        }
    }
}

#[derive(Clone)]
pub struct TenantLimit<S> {
    inner: S,
    gate: RateGate,
}

impl<S> Service<Request<Body>> for TenantLimit<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let limit = request.extensions().get::<Caller>().and_then(|c| {
            c.tenant_config()
                .and_then(|t| t.rate_limit.map(|l| (t.name.clone(), l)))
        });
        let Some((tenant, limit)) = limit else {
            return Box::pin(self.inner.call(request));
        };
        let policy = format!(
            "\"tenant\";q={};w={}",
            limit.count,
            limit.period.as_secs().max(1)
        );
        // The unit is taken before the call; the clone that was made ready is the one used.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        Box::pin(async move {
            match gate.check(&format!("tenant:{tenant}"), limit).await {
                Decision::Denied { retry_after } => {
                    let state = format!("\"tenant\";r=0;t={}", ceil_secs(retry_after));
                    let mut response = ApiError::RateLimited {
                        message: "the tenant's rate limit is reached".into(),
                        retry_after,
                    }
                    .into_response();
                    set_headers(&mut response, &policy, &state);
                    Ok(response)
                }
                Decision::Allowed { remaining } => {
                    let state = format!(
                        "\"tenant\";r={remaining};t={}",
                        seconds_to_full(limit, remaining)
                    );
                    let mut response = inner.call(request).await?;
                    set_headers(&mut response, &policy, &state);
                    Ok(response)
                }
            }
        })
    }
}

fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn set_headers(response: &mut Response<Body>, policy: &str, state: &str) {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(policy) {
        headers.insert(RATELIMIT_POLICY.clone(), v);
    }
    if let Ok(v) = HeaderValue::from_str(state) {
        headers.insert(RATELIMIT.clone(), v);
    }
}
