//! CometAPI's official format: Runway's API behind the `/runwayml` prefix.

use super::errors::{error_answer, json_body, wrapper_failure};
use super::{
    comet_envelope, passthrough, runway_task, Capabilities, CreateOptions, PassthroughRoute,
    ProviderAdapter, ProviderKind, WireAnswer, WireRequest,
};
use crate::input::{InputError, TaskInput};
use crate::snapshot::Snapshot;
use crate::task::TaskType;
use crate::upstream_error::UpstreamError;

pub(crate) struct CometOfficial {
    runway_version: String,
}

impl CometOfficial {
    pub(crate) fn new(runway_version: String) -> CometOfficial {
        CometOfficial { runway_version }
    }
}

impl ProviderAdapter for CometOfficial {
    fn kind(&self) -> ProviderKind {
        ProviderKind::CometapiOfficial
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            task_types: runway_task::TASK_TYPES.to_vec(),
            can_cancel: false,
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
        runway_task::create_request("/runwayml", "cometapi_official", input)
    }

    fn parse_create(&self, answer: &WireAnswer) -> Result<String, UpstreamError> {
        if !answer.is_success() {
            return Err(error_answer(answer, false));
        }
        let body = json_body(answer)?;
        if let Some(failure) = wrapper_failure(&body) {
            return Err(failure);
        }
        runway_task::created_id(&body)
            .ok_or_else(|| UpstreamError::bad_answer("create answer holds no task id"))
    }

    fn poll_request(&self, provider_task_id: &str) -> WireRequest {
        WireRequest::get(format!("/runwayml/v1/tasks/{provider_task_id}"))
    }

    fn passthrough_route(&self, method: &reqwest::Method, path: &str) -> PassthroughRoute {
        passthrough::runway_route(&["runwayml"], method, path)
    }

    fn parse_poll(
        &self,
        answer: &WireAnswer,
        task_type: TaskType,
    ) -> Result<Snapshot, UpstreamError> {
        comet_envelope::parse_poll(answer, task_type)
    }
}
