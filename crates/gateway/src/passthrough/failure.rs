//! How a pass-through that got no answer is judged: for the circuit (the client's own
//! broken, oversized or stalled body is not the provider's doing), and for the client (the
//! contract's error).

use taskgate_core::{FailureClass, UpstreamError};

use crate::client_body::{BodyFault, ClientBody};
use crate::error::ApiError;
use crate::traffic::upstream::CallError;

/// A failure before any answer. The client's own broken, oversized or stalled body is not
/// the provider's doing, so it is classed as a rejection (the circuit ignores those).
pub fn transport_error(e: reqwest::Error, client: &ClientBody) -> UpstreamError {
    if e.is_timeout() && client.waiting() {
        // The provider's time ran out while the gateway was waiting on the client's body.
        client.set(BodyFault::Stalled);
    }
    let e = e.without_url();
    let message = error_chain(&e);
    if client.fault().is_some() {
        UpstreamError::new(FailureClass::Rejected, message)
    } else if e.is_connect() {
        UpstreamError::new(FailureClass::NoEffect, message).transient()
    } else if e.is_timeout() {
        UpstreamError {
            timed_out: true,
            ..UpstreamError::new(FailureClass::OutcomeUnknown, message)
        }
    } else {
        UpstreamError::new(FailureClass::OutcomeUnknown, message)
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub fn refusal(
    provider: &str,
    error: CallError,
    fault: Option<BodyFault>,
    body_limit: usize,
) -> ApiError {
    match (fault, error) {
        (Some(BodyFault::TooLarge), _) => ApiError::PayloadTooLarge { limit: body_limit },
        (Some(BodyFault::Broken), _) => {
            ApiError::InvalidRequest("the request body could not be read".into())
        }
        (Some(BodyFault::Stalled), _) => ApiError::RequestTimeout,
        (None, CallError::RateLimited { retry_after }) => ApiError::RateLimited {
            message: format!("provider {provider} is at its rate limit"),
            retry_after,
        },
        (None, CallError::CircuitOpen) => {
            ApiError::Unavailable(format!("provider {provider} is unhealthy; try again later"))
        }
        (None, CallError::Unsupported(_)) => ApiError::Internal,
        (None, CallError::Upstream(e)) => {
            tracing::warn!(provider = %provider, class = e.class.as_str(), error = %e.message, "pass-through call failed");
            if e.timed_out {
                ApiError::UpstreamTimeout(format!("provider {provider} did not answer in time"))
            } else {
                ApiError::Upstream(format!("provider {provider} could not be reached"))
            }
        }
    }
}
