//! The four wire dialects: routes, request checks and JSON shapes.

mod comet_compat;
mod comet_official;
mod feed;
mod makevid;
mod pipeline;
mod progress;
mod runway;
mod runway_object;

use axum::http::{header, HeaderMap};
use axum::Router;
use serde_json::{Map, Value};

use crate::error::SimError;
use crate::lifecycle::{Phase, Snapshot};
use crate::provider::{Op, Provider};
use crate::state::SimState;
use crate::task::Task;

/// The routes of all four providers.
pub(crate) fn routes() -> Router<SimState> {
    Router::new()
        .merge(comet_compat::routes())
        .merge(comet_official::routes())
        .merge(runway::routes())
        .merge(makevid::routes())
}

/// What differs between providers once a request is known to be well-formed.
pub(crate) trait Dialect {
    const PROVIDER: Provider;

    /// Header checks beyond authentication, per operation.
    fn check_headers(_op: Op, _headers: &HeaderMap) -> Result<(), SimError> {
        Ok(())
    }

    /// The JSON text of a successful create answer.
    fn create_answer(task: &Task) -> Vec<u8>;

    /// The JSON text of a successful poll answer.
    fn poll_answer(view: &View<'_>) -> Vec<u8>;
}

/// A task as one poll sees it.
pub(crate) struct View<'a> {
    pub task: &'a Task,
    pub snap: Snapshot,
    /// A status word that replaces every status word of the answer.
    pub word: Option<&'a str>,
}

impl<'a> View<'a> {
    /// `natural`, unless a status word is injected.
    pub(crate) fn word(&self, natural: &'a str) -> &'a str {
        self.word.unwrap_or(natural)
    }

    /// Runway's own status word (also makevid's, but for `CANCELED`).
    pub(crate) fn runway_word(&self) -> &'a str {
        self.word(match self.snap.phase {
            Phase::NotVisible | Phase::Submitted | Phase::Queued => {
                if self.task.script.throttled {
                    "THROTTLED"
                } else {
                    "PENDING"
                }
            }
            Phase::Running(_) => "RUNNING",
            Phase::Succeeded => "SUCCEEDED",
            Phase::Failed => "FAILED",
            Phase::Cancelled => "CANCELLED",
        })
    }

    /// The failure text, when the task failed or was cancelled.
    pub(crate) fn failure(&self) -> Option<&'a str> {
        match self.snap.phase {
            Phase::Failed => Some(&self.task.script.failure_message),
            Phase::Cancelled => Some("cancelled"),
            _ => None,
        }
    }

    /// Unix seconds of a moment in ms since create; 0 for "not yet".
    pub(crate) fn unix_s(&self, offset_ms: Option<u64>) -> u64 {
        offset_ms.map_or(0, |ms| self.task.unix_s(ms))
    }
}

/// Whether the bearer key is present and accepted.
pub(crate) fn authorize(state: &SimState, headers: &HeaderMap) -> Result<(), SimError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match key {
        Some(k) if state.accepts_key(k) => Ok(()),
        _ => Err(SimError::Unauthorized),
    }
}

/// Requires `X-Runway-Version`.
pub(crate) fn require_runway_version(headers: &HeaderMap) -> Result<(), SimError> {
    let ok = headers
        .get("x-runway-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty());
    if ok {
        Ok(())
    } else {
        Err(SimError::invalid("X-Runway-Version header is required"))
    }
}

/// Whether `key` holds a non-empty string.
pub(crate) fn has_str(body: &Map<String, Value>, key: &str) -> bool {
    body.get(key)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

/// Requires non-empty strings under every key of `keys`, naming those missing.
pub(crate) fn require_strs(body: &Map<String, Value>, keys: &[&str]) -> Result<(), SimError> {
    let missing: Vec<&str> = keys.iter().copied().filter(|k| !has_str(body, k)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SimError::invalid(format!(
            "missing required field(s): {}",
            missing.join(", ")
        )))
    }
}
