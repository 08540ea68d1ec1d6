//! Runs any adapter over HTTP with one connection pool per provider, and classifies
//! transport failures.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::HeaderMap;
use url::Url;

use super::{
    adapter_for, checked_task_id, AdapterSettings, Capabilities, CreateOptions, PassthroughRoute,
    ProviderAdapter, ProviderKind, WireAnswer, WireRequest,
};
use crate::input::{InputError, TaskInput};
use crate::secret::Secret;
use crate::snapshot::Snapshot;
use crate::task::TaskType;
use crate::upstream_error::{FailureClass, UpstreamError};

/// Largest provider answer we read; more is a broken or hostile upstream.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// What it takes to talk to one configured provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// The name in the config (`comet-official`), used in the API and logs.
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: Url,
    pub api_key: Secret,
    /// Whole-call timeout for each upstream request.
    pub timeout: Duration,
    pub adapter: AdapterSettings,
}

/// A configured provider: an adapter plus its HTTP client.
pub struct Provider {
    name: String,
    base_url: String,
    api_key: Secret,
    adapter: Box<dyn ProviderAdapter>,
    headers: Vec<(&'static str, String)>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("kind", &self.adapter.kind())
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Why a create did not produce a provider task id.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// This provider cannot express the input; nothing was sent.
    #[error("input not supported by this provider: {0}")]
    Unsupported(InputError),
    #[error(transparent)]
    Upstream(UpstreamError),
}

impl Provider {
    pub fn new(settings: ProviderSettings) -> Result<Provider, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("taskgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let adapter = adapter_for(settings.kind, &settings.adapter);
        Ok(Provider {
            name: settings.name,
            base_url: settings.base_url.as_str().trim_end_matches('/').to_string(),
            api_key: settings.api_key,
            headers: adapter.headers(),
            adapter,
            http,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> ProviderKind {
        self.adapter.kind()
    }

    pub fn capabilities(&self) -> Capabilities {
        self.adapter.capabilities()
    }

    /// The base URL without a trailing slash (pass-through appends the client's path).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The shared connection pool, for pass-through.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The key to send: the tenant's own, else the provider's.
    pub fn key<'a>(&'a self, tenant_key: Option<&'a Secret>) -> &'a Secret {
        tenant_key.unwrap_or(&self.api_key)
    }

    /// What a pass-through request does to the account's tasks, in this dialect.
    pub fn passthrough_route(&self, method: &reqwest::Method, path: &str) -> PassthroughRoute {
        self.adapter.passthrough_route(method, path)
    }

    /// The task id in a create answer passed through, if it is a create answer at all.
    pub fn created_task_id(&self, status: u16, body: Bytes) -> Option<String> {
        self.adapter
            .parse_create(&WireAnswer::new(status, body))
            .ok()
            .and_then(|id| checked_task_id(&id).map(str::to_owned))
    }

    /// Dialect headers every call carries (`X-Runway-Version`).
    pub fn dialect_headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// Whether this provider can express `input` at all (builds the request, sends nothing).
    pub fn check_input(
        &self,
        input: &TaskInput,
        options: &CreateOptions,
    ) -> Result<(), InputError> {
        self.adapter.create_request(input, options).map(|_| ())
    }

    /// Creates the task upstream and returns the provider's task id.
    pub async fn create(
        &self,
        input: &TaskInput,
        options: &CreateOptions,
        tenant_key: Option<&Secret>,
    ) -> Result<String, CreateError> {
        let request = self
            .adapter
            .create_request(input, options)
            .map_err(CreateError::Unsupported)?;
        let answer = self
            .send(request, tenant_key)
            .await
            .map_err(CreateError::Upstream)?;
        self.adapter
            .parse_create(&answer)
            .map_err(CreateError::Upstream)
    }

    /// Polls the task once and normalizes the answer.
    pub async fn poll(
        &self,
        provider_task_id: &str,
        task_type: TaskType,
        tenant_key: Option<&Secret>,
    ) -> Result<Snapshot, UpstreamError> {
        let id = checked_task_id(provider_task_id)
            .ok_or_else(|| UpstreamError::bad_answer("provider task id is not usable"))?;
        let answer = self.send(self.adapter.poll_request(id), tenant_key).await?;
        self.adapter.parse_poll(&answer, task_type)
    }

    /// Cancels the task upstream, where the dialect can.
    pub async fn cancel(
        &self,
        provider_task_id: &str,
        tenant_key: Option<&Secret>,
    ) -> Result<(), UpstreamError> {
        let id = checked_task_id(provider_task_id)
            .ok_or_else(|| UpstreamError::bad_answer("provider task id is not usable"))?;
        let request = self.adapter.cancel_request(id).ok_or_else(|| {
            UpstreamError::new(FailureClass::NoEffect, "this provider cannot cancel")
        })?;
        let answer = self.send(request, tenant_key).await?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(super::errors::error_answer(&answer, false))
        }
    }

    async fn send(
        &self,
        request: WireRequest,
        tenant_key: Option<&Secret>,
    ) -> Result<WireAnswer, UpstreamError> {
        let url = format!("{}{}", self.base_url, request.path);
        let mut builder = self
            .http
            .request(request.method, url)
            .bearer_auth(self.key(tenant_key).expose());
        for (name, value) in &self.headers {
            builder = builder.header(*name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = read_bounded(response).await?;
        Ok(WireAnswer {
            status,
            body,
            retry_after,
        })
    }
}

/// A failure before any answer: refused connections had no effect; anything after the
/// request may have left the machine has an unknown outcome.
fn transport_error(e: reqwest::Error) -> UpstreamError {
    let message = without_url(&e);
    if e.is_connect() {
        UpstreamError::new(FailureClass::NoEffect, message).transient()
    } else if e.is_timeout() {
        UpstreamError {
            timed_out: true,
            ..UpstreamError::new(FailureClass::OutcomeUnknown, message)
        }
    } else if e.is_builder() {
        UpstreamError::new(FailureClass::NoEffect, message)
    } else {
        UpstreamError::new(FailureClass::OutcomeUnknown, message)
    }
}

/// reqwest errors print the URL; ours carry no secrets, but queries of pass-through might.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<upstream>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A provider's answer read whole, up to [`MAX_ANSWER_BYTES`].
pub async fn read_bounded(mut response: reqwest::Response) -> Result<Bytes, UpstreamError> {
    let mut body = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(UpstreamError::bad_answer(format!(
                        "answer larger than {MAX_ANSWER_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) => return Err(transport_error(e)),
        }
    }
}

/// `retry-after-ms` (Runway's SDKs) wins over `Retry-After` in seconds. HTTP dates are
/// ignored: clocks differ and the backoff covers it.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let read = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let capped = |secs: f64| {
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
    };
    read("retry-after-ms")
        .and_then(|ms| capped(ms / 1000.0))
        .or_else(|| read("retry-after").and_then(capped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
    }
}
