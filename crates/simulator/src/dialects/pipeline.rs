//! The steps every create, poll and cancel goes through, whatever the dialect.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{authorize, Dialect, View};
use crate::answer;
use crate::error::SimError;
use crate::faults::FaultKind;
use crate::lifecycle::{Ending, Phase};
use crate::provider::{Op, Provider};
use crate::script::Script;
use crate::state::{Counter, SimState};
use crate::task::{Action, Task};

/// Checks a create request's body and says what it generates.
pub(crate) type Validate = fn(&Map<String, Value>) -> Result<Action, SimError>;

/// The answer once a hung request is released by the server stopping.
const RELEASED: SimError = SimError::Injected {
    status: 503,
    retry_after_s: None,
    retry_after_ms: None,
};

/// What a fault leaves for the operation to do once latency has passed.
enum Next {
    /// Carry on normally.
    Go,
    /// Perform the operation if it goes through before hanging (create, cancel), then hang.
    Hang,
    /// Answer 200 with a truncated body; creates and cancels are not performed.
    Malformed,
    /// Poll only: answer with this status word.
    Word(String),
}

/// Takes the fault for this request, waits out latency or a hold, answers injected
/// statuses, and says what is left to do.
async fn apply(
    state: &SimState,
    p: Provider,
    op: Op,
    task: Option<&Task>,
) -> Result<Next, Response> {
    // Read before the fault is taken, so a release between the two still frees this one.
    let releases = state.releases();
    let fault = state.take_fault(p, op, task);
    match fault {
        None => Ok(Next::Go),
        Some(FaultKind::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Next::Go)
        }
        Some(FaultKind::Status {
            code,
            retry_after_s,
            retry_after_ms,
        }) => {
            let e = SimError::Injected {
                status: code,
                retry_after_s,
                retry_after_ms,
            };
            Err(reject(state, p, &e))
        }
        Some(FaultKind::Hang) => Ok(Next::Hang),
        Some(FaultKind::Hold) => {
            if state.hold(releases).await {
                Ok(Next::Go)
            } else {
                Err(RELEASED.response(p))
            }
        }
        Some(FaultKind::MalformedJson) => {
            state.count(Counter::Rejected, p);
            Ok(Next::Malformed)
        }
        Some(FaultKind::UnknownStatus { word }) => Ok(Next::Word(word)),
    }
}

/// Authenticates, validates, applies create faults, stores the task and answers.
pub(crate) async fn create<D: Dialect>(
    state: &SimState,
    headers: &HeaderMap,
    body: &[u8],
    validate: Validate,
) -> Response {
    let p = D::PROVIDER;
    let task = match prepare::<D>(state, headers, body, validate) {
        Ok(task) => task,
        Err(e) => return reject(state, p, &e),
    };
    match apply(state, p, Op::Create, Some(&task)).await {
        Err(resp) => resp,
        Ok(Next::Malformed) => answer::cut(D::create_answer(&task)),
        Ok(Next::Hang) => {
            store(state, task);
            state.hang().await;
            RELEASED.response(p)
        }
        Ok(Next::Go | Next::Word(_)) => {
            let bytes = D::create_answer(&task);
            store(state, task);
            answer::ok(bytes)
        }
    }
}

fn prepare<D: Dialect>(
    state: &SimState,
    headers: &HeaderMap,
    body: &[u8],
    validate: Validate,
) -> Result<Task, SimError> {
    authorize(state, headers)?;
    D::check_headers(Op::Create, headers)?;
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(body) else {
        return Err(SimError::invalid("the body must be a JSON object"));
    };
    let script = match body.remove("sim") {
        Some(sim) => {
            Arc::new(Script::merged_over(&state.script(), sim).map_err(SimError::invalid)?)
        }
        None => state.script(),
    };
    let action = validate(&body)?;
    Ok(Task::new(
        D::PROVIDER,
        action,
        script,
        Value::Object(body),
        raw_headers(headers),
        state.output_base(headers),
    ))
}

fn store(state: &SimState, task: Task) {
    state.count(Counter::Creates, task.provider);
    state.insert(Arc::new(task));
}

fn raw_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (n.as_str().to_owned(), value)
        })
        .collect()
}

fn reject(state: &SimState, p: Provider, e: &SimError) -> Response {
    state.count(Counter::Rejected, p);
    e.response(p)
}

/// Authenticates, counts, applies poll faults and answers with the task's state now.
/// `id` is `None` when the request named no task.
pub(crate) async fn poll<D: Dialect>(
    state: &SimState,
    headers: &HeaderMap,
    id: Option<&str>,
) -> Response {
    let p = D::PROVIDER;
    if let Err(e) = authorize(state, headers).and_then(|()| D::check_headers(Op::Poll, headers)) {
        return reject(state, p, &e);
    }
    state.count(Counter::Polls, p);
    let Some(id) = id else {
        return reject(
            state,
            p,
            &SimError::invalid("missing required field(s): task_id"),
        );
    };
    let task = state.lookup(p, id);
    if let Some(t) = &task {
        t.count_poll();
    }
    let (word, malformed) = match apply(state, p, Op::Poll, task.as_deref()).await {
        Err(resp) => return resp,
        Ok(Next::Hang) => {
            state.hang().await;
            return RELEASED.response(p);
        }
        Ok(Next::Go) => (None, false),
        Ok(Next::Malformed) => (None, true),
        Ok(Next::Word(w)) => (Some(w), false),
    };
    let snapshot = task.as_ref().map(|t| (t, t.snapshot()));
    let bytes = match snapshot {
        Some((t, snap)) if snap.phase != Phase::NotVisible => {
            let running_word = match snap.phase {
                Phase::Running(_) => t.script.status_word.as_deref(),
                _ => None,
            };
            let view = View {
                task: t,
                snap,
                word: word.as_deref().or(running_word),
            };
            D::poll_answer(&view)
        }
        _ if malformed => answer::to_bytes(&json!({"id": id, "status": "PENDING"})),
        Some(_) => return SimError::NotVisible.response(p),
        None => return SimError::NotFound.response(p),
    };
    if malformed {
        answer::cut(bytes)
    } else {
        answer::ok(bytes)
    }
}

/// Authenticates, counts, applies cancel faults and cancels the task unless it ended.
pub(crate) async fn cancel<D: Dialect>(
    state: &SimState,
    headers: &HeaderMap,
    id: &str,
) -> Response {
    let p = D::PROVIDER;
    if let Err(e) = authorize(state, headers).and_then(|()| D::check_headers(Op::Cancel, headers)) {
        return reject(state, p, &e);
    }
    state.count(Counter::Cancels, p);
    let Some(task) = state.lookup(p, id) else {
        return SimError::NotFound.response(p);
    };
    task.count_cancel();
    match apply(state, p, Op::Cancel, Some(&task)).await {
        Err(resp) => resp,
        Ok(Next::Malformed) => {
            answer::cut(answer::to_bytes(&json!({"id": id, "status": "CANCELLED"})))
        }
        Ok(Next::Hang) => {
            task.end(Ending::Cancelled);
            state.hang().await;
            RELEASED.response(p)
        }
        Ok(Next::Go | Next::Word(_)) => {
            task.end(Ending::Cancelled);
            answer::empty(StatusCode::NO_CONTENT)
        }
    }
}
