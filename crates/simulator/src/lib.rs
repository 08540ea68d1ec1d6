//! A faithful simulator of taskgate's four upstreams — CometAPI's compatibility and
//! official formats, Runway's own API and makevid — quirks included.
//!
//! One listener serves all four (each provider's base URL is the server's base URL).
//! A task's state is computed from the time since its create and its [`Script`]; nothing
//! runs between requests. Faults ([`FaultRule`]) are injected globally or per task, and
//! `/_sim/*` routes (or the methods here) read counters and steer the simulator.
//!
//! A succeeded task's output URLs point back at the simulator
//! (`{base}/_sim/out/{id}.{ext}`, previews `{base}/_sim/out/{id}/{n}.jpg`), which serves
//! deterministic bytes there ([`output_bytes`], [`preview_bytes`]), streamed, as the
//! task's script says (`output_bytes`, `output_status`, `output_chunk_delay_ms`,
//! `output_content_type`, `output_fail_times`).

#![forbid(unsafe_code)]

mod answer;
mod control;
mod dialects;
mod echo;
mod error;
mod faults;
mod lifecycle;
mod output_bytes;
mod outputs;
mod provider;
mod script;
mod state;
mod task;
mod timeline;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;

pub use faults::{FaultKind, FaultRule, OpFilter, ProviderFilter};
pub use output_bytes::{fill_output_bytes, output_bytes, preview_bytes, PREVIEW_BYTES};
pub use provider::{Op, Provider};
pub use script::{CreateCode, Outcome, OutputField, ProgressForm, Script, Shape};
pub use state::{SimConfig, SimState, Stats};
pub use task::TaskRecord;
pub use timeline::max_unfinished_at_once;

/// All provider routes and the `/_sim` control routes over `state`.
pub fn router(state: SimState) -> Router {
    Router::new()
        .merge(dialects::routes())
        .merge(control::routes())
        .merge(echo::routes())
        .merge(outputs::routes())
        .with_state(state)
}

/// A simulator serving on a socket from a spawned tokio task; it stops when dropped
/// (hung requests are released with a 503, slow output downloads are cut off).
pub struct SimServer {
    addr: SocketAddr,
    base_url: String,
    state: SimState,
}

impl SimServer {
    /// Serves the default configuration on `127.0.0.1:0`.
    pub async fn start() -> std::io::Result<SimServer> {
        SimServer::start_with(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves `config` on `addr` (port 0 picks a free port); output URLs point at the bound
    /// address (see [`SimServer::base_url`]).
    pub async fn start_with(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let base_url = base_url(addr);
        let state = SimState::with_base_url(config, base_url.clone());
        let app = router(state.clone());
        let stopping = state.clone();
        let listener = listener.tap_io(|tcp| {
            // Small answers on keep-alive connections: do not wait for Nagle.
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopping.stopped().await });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulator stopped with an error");
            }
        });
        Ok(SimServer {
            addr,
            base_url,
            state,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the base URL of every simulated provider, and the start of
    /// every output URL. An unspecified bound address (`0.0.0.0`, `::`) is written as the
    /// loopback address of its family.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The shared state, e.g. to keep steering after moving the server.
    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// What was recorded about a task, by the id the provider gave out.
    pub fn task(&self, provider_task_id: &str) -> Option<TaskRecord> {
        self.state.task(provider_task_id)
    }

    /// Every task with its provider task id, oldest first.
    pub fn tasks(&self) -> Vec<(String, TaskRecord)> {
        self.state.tasks()
    }

    /// The most tasks unfinished at once so far, of `provider` (a wire name) or of all:
    /// [`max_unfinished_at_once`] over [`SimServer::tasks`].
    pub fn max_unfinished_at_once(&self, provider: Option<&str>) -> usize {
        self.state.max_unfinished_at_once(provider)
    }

    /// Replaces the default script for tasks created from now on.
    pub fn set_scenario(&self, s: Script) {
        self.state.set_scenario(s);
    }

    /// Adds a rule at the end of the global fault queue.
    pub fn push_fault(&self, r: FaultRule) {
        self.state.push_fault(r);
    }

    /// Requests waiting in a `hold` fault right now.
    pub fn held(&self) -> usize {
        self.state.held()
    }

    /// Lets held requests go on and drops the global `hold` rules; returns how many were
    /// held.
    pub fn release_holds(&self) -> usize {
        self.state.release_holds()
    }

    /// Forgets tasks, faults and counters and restores the starting scenario.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Ends a task now with this outcome. False if the id is unknown or already ended.
    pub fn finish(&self, id: &str, outcome: Outcome) -> bool {
        self.state.finish(id, outcome)
    }
}

fn base_url(mut addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}")
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.state.shutdown();
    }
}
