//! Live reload of the config file: on SIGHUP, and when the file's content changes (polled
//! every second: cheap for a small file, and it follows a Kubernetes ConfigMap's symlink
//! swap, which file-event watchers often miss).
//!
//! A valid new file becomes a new [`Runtime`] (unchanged providers keep their clients and
//! connection pools) swapped in atomically: a request keeps the snapshot it started with.
//! Rate budgets and circuits live outside the snapshot and survive while their settings
//! are unchanged. An invalid file is logged, every problem with its YAML path, and
//! ignored. What is bound at start (listeners, body limit, request timeout, store,
//! cluster) keeps its running value; a change there is logged as needing a restart.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use taskgate_config::Config;
use tokio::task::JoinHandle;

use crate::runtime::Runtime;
use crate::state::AppState;

/// How often the file is looked at.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// What a reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new config is in force, with this version.
    Applied { version: String },
    /// The file is the one already seen; nothing to do.
    Unchanged,
    /// The file could not be read, was invalid, or its providers could not be built; the
    /// running config stays.
    Rejected,
}

/// What set off a reload, for the log.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Signal,
    FileChange,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "sighup",
            Trigger::FileChange => "file_change",
        }
    }
}

/// Watches one config file and applies it to one gateway.
pub struct Reloader {
    path: PathBuf,
    state: AppState,
    /// SHA-256 of the file text last looked at (applied or rejected), so a bad file is
    /// reported once, not every second.
    seen: Option<[u8; 32]>,
}

fn digest(text: &[u8]) -> [u8; 32] {
    Sha256::digest(text).into()
}

impl Reloader {
    /// A reloader that takes the file as it is now as already applied.
    pub fn new(path: PathBuf, state: AppState) -> Reloader {
        let seen = std::fs::read(&path).ok().map(|text| digest(&text));
        Reloader { path, state, seen }
    }

    /// Re-reads the file and applies it if it changed since last seen.
    pub fn reload_if_changed(&mut self) -> ReloadOutcome {
        self.check(Trigger::FileChange)
    }

    fn check(&mut self, trigger: Trigger) -> ReloadOutcome {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) => {
                // A ConfigMap update or an editor may have the file missing for a moment.
                if matches!(trigger, Trigger::Signal) {
                    tracing::error!(path = %self.path.display(), error = %e, "config reload: cannot read the file; keeping the running config");
                }
                return ReloadOutcome::Rejected;
            }
        };
        let hash = digest(&text);
        if self.seen == Some(hash) {
            if matches!(trigger, Trigger::Signal) {
                tracing::info!(trigger = trigger.as_str(), "config reload: file unchanged");
            }
            return ReloadOutcome::Unchanged;
        }
        self.seen = Some(hash);
        apply(&text, &self.state, trigger)
    }

    /// Runs until aborted: SIGHUP and file changes trigger a reload.
    pub async fn run(mut self) {
        let mut hangups = hangup_signals();
        let mut tick = tokio::time::interval(POLL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.check(Trigger::FileChange);
                }
                () = next_hangup(&mut hangups) => {
                    self.check(Trigger::Signal);
                }
            }
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; the config file is still watched");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signals() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) {
    match hangups {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) {
    std::future::pending().await
}

/// Starts watching `path` for `state`'s gateway; abort the handle to stop.
pub fn spawn(path: PathBuf, state: AppState) -> JoinHandle<()> {
    let reloader = Reloader::new(path, state);
    tokio::spawn(reloader.run())
}

/// Checks the file's `text` (the bytes just hashed, so the version matches what was seen)
/// and, when valid, swaps it in.
fn apply(text: &[u8], state: &AppState, trigger: Trigger) -> ReloadOutcome {
    let Ok(text) = std::str::from_utf8(text) else {
        tracing::error!(
            trigger = trigger.as_str(),
            "config reload rejected: the file is not UTF-8; keeping the running config"
        );
        return ReloadOutcome::Rejected;
    };
    let mut config = match taskgate_config::from_yaml(text, &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(errors) => {
            for problem in &errors.0 {
                tracing::error!(problem = %problem, "config reload: problem");
            }
            tracing::error!(
                trigger = trigger.as_str(),
                problems = errors.0.len(),
                "config reload rejected; keeping the running config"
            );
            return ReloadOutcome::Rejected;
        }
    };
    let old = state.runtime.load_full();
    keep_startup_settings(&mut config, &old.config);
    let version = config.version.clone();
    let runtime = match Runtime::build(config, Some(&old)) {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "config reload rejected; keeping the running config");
            return ReloadOutcome::Rejected;
        }
    };
    let reused = runtime
        .providers
        .iter()
        .filter(|(name, p)| old.providers.get(*name).is_some_and(|q| Arc::ptr_eq(p, q)))
        .count();
    tracing::info!(
        trigger = trigger.as_str(),
        old_version = %old.config.version,
        config_version = %version,
        tenants = runtime.config.tenants.len(),
        providers = runtime.providers.len(),
        providers_reused = reused,
        "config reloaded"
    );
    state.runtime.store(Arc::new(runtime));
    // A provider may have more slots now (or none of its limit left).
    state.queue_ready.notify_one();
    ReloadOutcome::Applied { version }
}

/// Settings bound when the gateway started keep their running values; a change to one is
/// logged as needing a restart.
fn keep_startup_settings(new: &mut Config, running: &Config) {
    let server = &mut new.server;
    let old = &running.server;
    let mut fixed: Vec<&str> = Vec::new();
    if server.listen != old.listen {
        fixed.push("server.listen");
        server.listen = old.listen;
    }
    if server.admin_listen != old.admin_listen {
        fixed.push("server.admin_listen");
        server.admin_listen = old.admin_listen;
    }
    if server.max_body_bytes != old.max_body_bytes {
        fixed.push("server.max_body_bytes");
        server.max_body_bytes = old.max_body_bytes;
    }
    if server.request_timeout != old.request_timeout {
        fixed.push("server.request_timeout");
        server.request_timeout = old.request_timeout;
    }
    if server.body_read_timeout != old.body_read_timeout {
        fixed.push("server.body_read_timeout");
        server.body_read_timeout = old.body_read_timeout;
    }
    if server.max_header_count != old.max_header_count {
        fixed.push("server.max_header_count");
        server.max_header_count = old.max_header_count;
    }
    if server.max_header_bytes != old.max_header_bytes {
        fixed.push("server.max_header_bytes");
        server.max_header_bytes = old.max_header_bytes;
    }
    if new.store != running.store {
        fixed.push("store");
        new.store = running.store.clone();
    }
    if new.cluster != running.cluster {
        fixed.push("cluster");
        new.cluster = running.cluster.clone();
    }
    for setting in fixed {
        tracing::warn!(
            setting,
            "config reload: this setting changes only on restart; keeping the running value"
        );
    }
}
