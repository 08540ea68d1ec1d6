//! The `/_sim` routes: counters, task records, scenario, faults, held requests, reset,
//! forced endings.
//! They need no key: they are for tests and the demo on loopback.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::answer;
use crate::faults::FaultRule;
use crate::script::{Outcome, Script};
use crate::state::SimState;

pub(crate) fn routes() -> Router<SimState> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/tasks", get(tasks))
        .route("/_sim/tasks/{id}", get(task))
        .route("/_sim/tasks/{id}/finish", post(finish))
        .route("/_sim/scenario", get(scenario).post(set_scenario))
        .route("/_sim/faults", post(push_fault))
        .route("/_sim/held", get(held))
        .route("/_sim/held/release", post(release_held))
        .route("/_sim/reset", post(reset))
}

async fn stats(State(s): State<SimState>) -> Response {
    answer::json(StatusCode::OK, &s.stats())
}

/// `[{"id": ..., "provider": ..., "polls": ..., ...}]`, oldest first.
async fn tasks(State(s): State<SimState>) -> Response {
    let list: Vec<serde_json::Value> = s
        .tasks()
        .into_iter()
        .map(|(id, record)| {
            let mut v = serde_json::to_value(record).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                map.insert("id".to_owned(), json!(id));
            }
            v
        })
        .collect();
    answer::json(StatusCode::OK, &list)
}

async fn task(State(s): State<SimState>, Path(id): Path<String>) -> Response {
    match s.task(&id) {
        Some(record) => answer::json(StatusCode::OK, &record),
        None => not_found(),
    }
}

async fn scenario(State(s): State<SimState>) -> Response {
    answer::json(StatusCode::OK, &s.scenario())
}

async fn set_scenario(State(s): State<SimState>, body: Bytes) -> Response {
    match serde_json::from_slice::<Script>(&body) {
        Ok(script) => {
            s.set_scenario(script);
            done()
        }
        Err(e) => bad_request(&e),
    }
}

async fn push_fault(State(s): State<SimState>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => {
            s.push_fault(rule);
            done()
        }
        Err(e) => bad_request(&e),
    }
}

async fn held(State(s): State<SimState>) -> Response {
    answer::json(StatusCode::OK, &json!({"held": s.held()}))
}

async fn release_held(State(s): State<SimState>) -> Response {
    answer::json(StatusCode::OK, &json!({"released": s.release_holds()}))
}

async fn reset(State(s): State<SimState>) -> Response {
    s.reset();
    done()
}

#[derive(Deserialize)]
struct Finish {
    outcome: Outcome,
}

async fn finish(State(s): State<SimState>, Path(id): Path<String>, body: Bytes) -> Response {
    let finish = match serde_json::from_slice::<Finish>(&body) {
        Ok(f) => f,
        Err(e) => return bad_request(&e),
    };
    if s.task(&id).is_none() {
        return not_found();
    }
    if s.finish(&id, finish.outcome) {
        done()
    } else {
        answer::json(
            StatusCode::CONFLICT,
            &json!({"error": "task already ended"}),
        )
    }
}

fn done() -> Response {
    answer::json(StatusCode::OK, &json!({"ok": true}))
}

fn not_found() -> Response {
    answer::json(StatusCode::NOT_FOUND, &json!({"error": "task not found"}))
}

fn bad_request(e: &serde_json::Error) -> Response {
    answer::json(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()}))
}
