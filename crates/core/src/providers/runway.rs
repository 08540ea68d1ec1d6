//! Runway's own API, reached directly. The only dialect that can cancel.

use super::errors::{error_answer, json_body};
use super::{
    passthrough, runway_task, Capabilities, CreateOptions, PassthroughRoute, ProviderAdapter,
    ProviderKind, WireAnswer, WireRequest,
};
use crate::input::{InputError, TaskInput};
use crate::snapshot::Snapshot;
use crate::task::TaskType;
use crate::upstream_error::UpstreamError;

pub(crate) struct Runway {
    runway_version: String,
}

impl Runway {
    pub(crate) fn new(runway_version: String) -> Runway {
        Runway { runway_version }
    }
}

impl ProviderAdapter for Runway {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Runway
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            task_types: runway_task::TASK_TYPES.to_vec(),
            can_cancel: true,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("X-Runway-Version", self.runway_version.clone())]
    }

    fn create_request(
        &self,
        input: &TaskInput,
        _options: &CreateOptions,
    ) -> Result<WireRequest, InputError> {
        runway_task::create_request("", "runway", input)
    }

    fn parse_create(&self, answer: &WireAnswer) -> Result<String, UpstreamError> {
        if !answer.is_success() {
            return Err(error_answer(answer, false));
        }
        runway_task::created_id(&json_body(answer)?)
            .ok_or_else(|| UpstreamError::bad_answer("create answer holds no task id"))
    }

    fn poll_request(&self, provider_task_id: &str) -> WireRequest {
        WireRequest::get(format!("/v1/tasks/{provider_task_id}"))
    }

    fn parse_poll(
        &self,
        answer: &WireAnswer,
        task_type: TaskType,
    ) -> Result<Snapshot, UpstreamError> {
        if !answer.is_success() {
            return Err(error_answer(answer, true));
        }
        let body = json_body(answer)?;
        if !body.is_object() {
            return Err(UpstreamError::bad_answer("poll answer is not an object"));
        }
        Ok(runway_task::snapshot(&body, task_type))
    }

    fn passthrough_route(&self, method: &reqwest::Method, path: &str) -> PassthroughRoute {
        passthrough::runway_route(&[], method, path)
    }

    fn cancel_request(&self, provider_task_id: &str) -> Option<WireRequest> {
        Some(WireRequest {
            method: reqwest::Method::DELETE,
            path: format!("/v1/tasks/{provider_task_id}"),
            body: None,
        })
    }
}
