//! The provider adapters behind one trait, and the HTTP client that runs them.
//!
//! An adapter is pure: it builds requests in its dialect and reads answers into the
//! normalized model. [`Provider`] does the I/O for every adapter the same way, so a fifth
//! provider is one new file here and one line in [`adapter_for`].

mod comet_compat;
mod comet_envelope;
mod comet_official;
mod errors;
mod http;
mod makevid;
mod merge;
mod passthrough;
mod runway;
mod runway_task;

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input::{InputError, TaskInput};
use crate::snapshot::Snapshot;
use crate::task::TaskType;
use crate::upstream_error::UpstreamError;

pub use self::http::{read_bounded, CreateError, Provider, ProviderSettings, MAX_ANSWER_BYTES};
pub use self::passthrough::PassthroughRoute;

/// The wire dialects taskgate speaks. The config's `type` field names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    CometapiCompat,
    CometapiOfficial,
    Runway,
    Makevid,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::CometapiCompat,
        ProviderKind::CometapiOfficial,
        ProviderKind::Runway,
        ProviderKind::Makevid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::CometapiCompat => "cometapi_compat",
            ProviderKind::CometapiOfficial => "cometapi_official",
            ProviderKind::Runway => "runway",
            ProviderKind::Makevid => "makevid",
        }
    }

    /// What this dialect can do, known without building an adapter (config validation uses it).
    pub fn capabilities(self) -> Capabilities {
        adapter_for(self, &AdapterSettings::default()).capabilities()
    }

    /// Whether this dialect can run `task_type` in a gateway that can (`callback_url`: it has
    /// a `server.public_url`) or cannot give it a callback URL; the error says why not. The
    /// config check, the create path and the adapters all ask this one question.
    pub fn can_run(self, task_type: TaskType, callback_url: bool) -> Result<(), CannotRun> {
        can_run(
            adapter_for(self, &AdapterSettings::default()).as_ref(),
            task_type,
            callback_url,
        )
    }
}

/// [`ProviderKind::can_run`] for an adapter at hand.
pub(crate) fn can_run(
    adapter: &dyn ProviderAdapter,
    task_type: TaskType,
    callback_url: bool,
) -> Result<(), CannotRun> {
    if !adapter.capabilities().runs(task_type) {
        return Err(CannotRun::NotOffered);
    }
    if !callback_url && adapter.callback_types().contains(&task_type) {
        return Err(CannotRun::NeedsCallbackUrl);
    }
    Ok(())
}

/// Why a provider cannot run a task type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannotRun {
    /// The type is not among its [`Capabilities`].
    NotOffered,
    /// Its dialect creates the type only with a callback URL
    /// ([`ProviderAdapter::callback_types`]), and the gateway has none to give: its
    /// `server.public_url` is not set.
    NeedsCallbackUrl,
}

impl CannotRun {
    /// `{who} cannot run {task_type}`, then what is missing: the one wording of this refusal,
    /// in `taskgate check`, in the create's answer and in an adapter's error.
    pub fn describe(self, who: &str, task_type: TaskType) -> String {
        match self {
            CannotRun::NotOffered => format!("{who} cannot run {task_type}"),
            CannotRun::NeedsCallbackUrl => format!(
                "{who} cannot run {task_type} without server.public_url \
                 (it needs a callback URL to create this type)"
            ),
        }
    }
}

/// What a provider can run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub task_types: Vec<TaskType>,
    pub can_cancel: bool,
}

impl Capabilities {
    pub fn runs(&self, t: TaskType) -> bool {
        self.task_types.contains(&t)
    }
}

/// Dialect options from the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdapterSettings {
    /// `X-Runway-Version`; the documented default when unset.
    pub runway_version: Option<String>,
}

pub const DEFAULT_RUNWAY_VERSION: &str = "2024-11-06";

/// One HTTP request in a provider's dialect, relative to its base URL.
#[derive(Debug, Clone, PartialEq)]
pub struct WireRequest {
    pub method: reqwest::Method,
    pub path: String,
    pub body: Option<Value>,
}

impl WireRequest {
    pub fn get(path: impl Into<String>) -> WireRequest {
        WireRequest {
            method: reqwest::Method::GET,
            path: path.into(),
            body: None,
        }
    }

    pub fn post(path: impl Into<String>, body: Value) -> WireRequest {
        WireRequest {
            method: reqwest::Method::POST,
            path: path.into(),
            body: Some(body),
        }
    }
}

/// A provider's HTTP answer, read whole (bounded by [`MAX_ANSWER_BYTES`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WireAnswer {
    pub status: u16,
    pub body: Bytes,
    pub retry_after: Option<Duration>,
}

impl WireAnswer {
    pub fn new(status: u16, body: impl Into<Bytes>) -> WireAnswer {
        WireAnswer {
            status,
            body: body.into(),
            retry_after: None,
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Per-create options that are not part of the task input.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Where the provider may call back on completion (only some dialects take one).
    pub callback_url: Option<String>,
}

/// A provider's wire dialect: builds requests and reads answers. No I/O.
pub trait ProviderAdapter: Send + Sync {
    fn kind(&self) -> ProviderKind;
    fn capabilities(&self) -> Capabilities;
    /// Of its task types, those it creates only with a callback URL
    /// ([`CreateOptions::callback_url`]): without one it cannot run them (see
    /// [`ProviderKind::can_run`]). None by default.
    fn callback_types(&self) -> &'static [TaskType] {
        &[]
    }
    /// Headers every request of this dialect carries, besides `Authorization`.
    fn headers(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// The create request. An error means this provider cannot honour the input as given
    /// (a field it has no way to express); nothing was sent.
    fn create_request(
        &self,
        input: &TaskInput,
        options: &CreateOptions,
    ) -> Result<WireRequest, InputError>;
    /// The provider task id from a create answer.
    fn parse_create(&self, answer: &WireAnswer) -> Result<String, UpstreamError>;
    fn poll_request(&self, provider_task_id: &str) -> WireRequest;
    /// Reads any documented poll answer; never panics on any input.
    fn parse_poll(
        &self,
        answer: &WireAnswer,
        task_type: TaskType,
    ) -> Result<Snapshot, UpstreamError>;
    /// The cancel request, for dialects that can cancel.
    fn cancel_request(&self, _provider_task_id: &str) -> Option<WireRequest> {
        None
    }
    /// What a pass-through request with this method and path (relative to the base URL,
    /// as the client sent it) does to the account's tasks. Unmodelled routes are
    /// [`PassthroughRoute::Account`].
    fn passthrough_route(&self, _method: &reqwest::Method, _path: &str) -> PassthroughRoute {
        PassthroughRoute::Account
    }
}

/// The registry: one line per dialect.
pub fn adapter_for(kind: ProviderKind, settings: &AdapterSettings) -> Box<dyn ProviderAdapter> {
    let version = settings
        .runway_version
        .clone()
        .unwrap_or_else(|| DEFAULT_RUNWAY_VERSION.to_string());
    match kind {
        ProviderKind::CometapiCompat => Box::new(comet_compat::CometCompat::new(
            settings.runway_version.clone(),
        )),
        ProviderKind::CometapiOfficial => Box::new(comet_official::CometOfficial::new(version)),
        ProviderKind::Runway => Box::new(runway::Runway::new(version)),
        ProviderKind::Makevid => Box::new(makevid::Makevid),
    }
}

/// A provider task id is put into URL paths: refuse anything that could change the path.
pub(crate) fn checked_task_id(id: &str) -> Option<&str> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && id != "."
        && id != "..";
    ok.then_some(id)
}
