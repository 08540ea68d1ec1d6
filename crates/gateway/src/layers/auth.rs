//! Bearer-key authentication: resolves the tenant and pins the config snapshot the request
//! will use from start to end.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::{header, Request, Response};
use axum::response::IntoResponse;
use taskgate_config::TenantConfig;
use tower::{Layer, Service};

use crate::error::ApiError;
use crate::runtime::Runtime;

/// Who is calling, with the config snapshot of this request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub runtime: Arc<Runtime>,
    pub tenant: String,
}

impl Caller {
    pub fn tenant_config(&self) -> Option<&TenantConfig> {
        self.runtime.tenant(&self.tenant)
    }
}

/// The authenticated tenant's name, on the response: for the layers outside routing
/// (request metrics), which never see the request's extensions.
#[derive(Debug, Clone)]
pub struct AuthenticatedTenant(pub String);

#[derive(Clone)]
pub struct AuthLayer {
    runtime: Arc<ArcSwap<Runtime>>,
}

impl AuthLayer {
    pub fn new(runtime: Arc<ArcSwap<Runtime>>) -> AuthLayer {
        AuthLayer { runtime }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            runtime: self.runtime.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    runtime: Arc<ArcSwap<Runtime>>,
}

fn bearer(request: &Request<Body>) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

impl<S> Service<Request<Body>> for Auth<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let runtime = self.runtime.load_full();
        let tenant = bearer(&request)
            .and_then(|key| runtime.tenant_for_key(key))
            .map(|t| t.name.clone());
        let Some(tenant) = tenant else {
            return Box::pin(async { Ok(ApiError::Unauthorized.into_response()) });
        };
        tracing::Span::current().record("tenant", tenant.as_str());
        let authenticated = AuthenticatedTenant(tenant.clone());
        request.extensions_mut().insert(Caller { runtime, tenant });
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            response.extensions_mut().insert(authenticated);
            Ok(response)
        })
    }
}
