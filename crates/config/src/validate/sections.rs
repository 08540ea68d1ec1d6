//! The single-value sections: `server`, `store`, `cluster`, `tasks`, `webhooks`.

use std::path::PathBuf;

use taskgate_core::Secret;

use super::fields::{bounded, duration, http_url, socket_addr};
use crate::problems::Problems;
use crate::raw::{RawCluster, RawServer, RawStore, RawTasks, RawWebhooks};
use crate::ready::{
    ClusterConfig, ServerConfig, StoreConfig, TaskTimings, WebhookSettings,
    DEFAULT_CLUSTER_NAMESPACE, DEFAULT_SQLITE_PATH, MAX_HEADER_BYTES, MAX_HEADER_COUNT,
    MIN_HEADER_BYTES,
};

pub(crate) fn server(raw: &RawServer, problems: &mut Problems) -> Option<ServerConfig> {
    let d = ServerConfig::default();
    let listen = socket_addr(raw.listen.as_deref(), d.listen, "server.listen", problems);
    let admin_listen = socket_addr(
        raw.admin_listen.as_deref(),
        d.admin_listen,
        "server.admin_listen",
        problems,
    );
    let max_body_bytes = match raw.max_body_bytes {
        None => Some(d.max_body_bytes),
        Some(0) => {
            problems.add("server.max_body_bytes", "must be greater than 0");
            None
        }
        Some(n) => usize::try_from(n)
            .map_err(|_| problems.add("server.max_body_bytes", "is too large"))
            .ok(),
    };
    let public_url = match raw.public_url.as_deref() {
        None => Some(None),
        Some(text) => http_url(text, "server.public_url", problems).map(Some),
    };
    let request_timeout = duration(
        raw.request_timeout.as_deref(),
        d.request_timeout,
        true,
        "server.request_timeout",
        problems,
    );
    // A file that leaves it out and has a shorter whole-request bound stays valid.
    let body_default = request_timeout.map_or(d.body_read_timeout, |r| r.min(d.body_read_timeout));
    let body_read_timeout = duration(
        raw.body_read_timeout.as_deref(),
        body_default,
        true,
        "server.body_read_timeout",
        problems,
    );
    let body_read_timeout = match (body_read_timeout, request_timeout) {
        // The body is part of the request: a longer bound could never be reached.
        (Some(body), Some(whole)) if body > whole => {
            problems.add(
                "server.body_read_timeout",
                "must not be longer than server.request_timeout",
            );
            None
        }
        (body, _) => body,
    };
    let max_header_count = bounded(
        raw.max_header_count,
        d.max_header_count,
        (1, MAX_HEADER_COUNT),
        "server.max_header_count",
        problems,
    );
    let max_header_bytes = bounded(
        raw.max_header_bytes,
        d.max_header_bytes,
        (MIN_HEADER_BYTES, MAX_HEADER_BYTES),
        "server.max_header_bytes",
        problems,
    );
    let shutdown_grace = duration(
        raw.shutdown_grace.as_deref(),
        d.shutdown_grace,
        false,
        "server.shutdown_grace",
        problems,
    );
    if let (Some(a), Some(b)) = (listen, admin_listen) {
        // Port 0 asks the system for a free port, so two such listeners never collide.
        if a == b && a.port() != 0 {
            problems.add("server.admin_listen", "must differ from server.listen");
            return None;
        }
    }
    Some(ServerConfig {
        listen: listen?,
        admin_listen: admin_listen?,
        max_body_bytes: max_body_bytes?,
        public_url: public_url?,
        request_timeout: request_timeout?,
        body_read_timeout: body_read_timeout?,
        max_header_count: max_header_count?,
        max_header_bytes: max_header_bytes?,
        shutdown_grace: shutdown_grace?,
    })
}

pub(crate) fn store(raw: &RawStore, problems: &mut Problems) -> Option<StoreConfig> {
    let kind = raw.kind.as_deref().unwrap_or("sqlite");
    let refuse = |problems: &mut Problems, field: &str, present: bool| {
        if present {
            problems.add(
                &format!("store.{field}"),
                format!("is not used by store kind {kind}"),
            );
        }
        present
    };
    match kind {
        "memory" => {
            let extra = refuse(problems, "path", raw.path.is_some())
                | refuse(problems, "url", raw.url.is_some());
            (!extra).then_some(StoreConfig::Memory)
        }
        "sqlite" => {
            let extra = refuse(problems, "url", raw.url.is_some());
            let path = raw.path.as_deref().unwrap_or(DEFAULT_SQLITE_PATH);
            if path.is_empty() {
                problems.add("store.path", "must not be empty");
                return None;
            }
            (!extra).then(|| StoreConfig::Sqlite {
                path: PathBuf::from(path),
            })
        }
        "postgres" => {
            let extra = refuse(problems, "path", raw.path.is_some());
            let url = secret_url(
                raw.url.as_deref(),
                &["postgres", "postgresql"],
                "store.url",
                "required for store kind postgres",
                problems,
            )?;
            (!extra).then_some(StoreConfig::Postgres { url })
        }
        other => {
            problems.add(
                "store.kind",
                format!("unknown store kind '{other}': expected one of memory, sqlite, postgres"),
            );
            None
        }
    }
}

/// `store` is `None` when it was unusable; then the postgres requirement is not checked.
pub(crate) fn cluster(
    raw: &RawCluster,
    store: Option<&StoreConfig>,
    problems: &mut Problems,
) -> Option<ClusterConfig> {
    let mut ok = true;
    if let Some(store) = store {
        if !matches!(store, StoreConfig::Postgres { .. }) {
            problems.add(
                "cluster",
                format!(
                    "several replicas need store.kind: postgres (store.kind is {})",
                    store.kind()
                ),
            );
            ok = false;
        }
    }
    let redis_url = secret_url(
        raw.redis_url.as_deref(),
        &["redis", "rediss", "redis+unix", "unix"],
        "cluster.redis_url",
        "missing required field",
        problems,
    );
    let replica_id = match raw.replica_id.as_deref() {
        Some(id) if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) => {
            problems.add(
                "cluster.replica_id",
                "must be 1 to 128 characters without control characters",
            );
            return None;
        }
        id => id.map(str::to_string),
    };
    let namespace = match raw.namespace.as_deref() {
        None => Some(DEFAULT_CLUSTER_NAMESPACE.to_string()),
        Some(ns) if valid_namespace(ns) => Some(ns.to_string()),
        Some(_) => {
            problems.add(
                "cluster.namespace",
                "must be 1 to 64 characters of A-Z a-z 0-9 _ - . :",
            );
            None
        }
    };
    let redis_url = redis_url?;
    ok.then_some(ClusterConfig {
        redis_url,
        replica_id,
        namespace: namespace?,
    })
}

/// A Redis key prefix that reads the same in every tool: no spaces, no globbing characters.
fn valid_namespace(ns: &str) -> bool {
    (1..=64).contains(&ns.len())
        && ns
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// A URL that may hold a password: checked for its scheme only, and never echoed.
fn secret_url(
    raw: Option<&str>,
    schemes: &[&str],
    path: &str,
    missing: &str,
    problems: &mut Problems,
) -> Option<Secret> {
    let Some(text) = raw else {
        problems.add(path, missing);
        return None;
    };
    match url::Url::parse(text) {
        Ok(url) if schemes.contains(&url.scheme()) => Some(Secret::new(text)),
        Ok(_) => {
            problems.add(path, format!("must be a {} URL", schemes.join(" or ")));
            None
        }
        Err(e) => {
            problems.add(path, format!("is not a URL: {e}"));
            None
        }
    }
}

pub(crate) fn tasks(raw: &RawTasks, problems: &mut Problems) -> Option<TaskTimings> {
    let d = TaskTimings::default();
    let mut field = |raw: &Option<String>, default, name: &str| {
        duration(
            raw.as_deref(),
            default,
            true,
            &format!("tasks.{name}"),
            problems,
        )
    };
    let refresh_after = field(&raw.refresh_after, d.refresh_after, "refresh_after");
    let not_found_grace = field(&raw.not_found_grace, d.not_found_grace, "not_found_grace");
    let watch_every = field(&raw.watch_every, d.watch_every, "watch_every");
    let give_up_after = field(&raw.give_up_after, d.give_up_after, "give_up_after");
    let max_queued_for = field(&raw.max_queued_for, d.max_queued_for, "max_queued_for");
    Some(TaskTimings {
        refresh_after: refresh_after?,
        not_found_grace: not_found_grace?,
        watch_every: watch_every?,
        give_up_after: give_up_after?,
        max_queued_for: max_queued_for?,
    })
}

pub(crate) fn webhooks(raw: &RawWebhooks, problems: &mut Problems) -> Option<WebhookSettings> {
    let d = WebhookSettings::default();
    let mut field = |raw: &Option<String>, default, name: &str| {
        duration(
            raw.as_deref(),
            default,
            true,
            &format!("webhooks.{name}"),
            problems,
        )
    };
    let timeout = field(&raw.timeout, d.timeout, "timeout");
    let retry_base = field(&raw.retry_base, d.retry_base, "retry_base");
    let retry_max = field(&raw.retry_max, d.retry_max, "retry_max");
    let give_up_after = field(&raw.give_up_after, d.give_up_after, "give_up_after");
    let progress_every = field(&raw.progress_every, d.progress_every, "progress_every");
    Some(WebhookSettings {
        timeout: timeout?,
        retry_base: retry_base?,
        retry_max: retry_max?,
        give_up_after: give_up_after?,
        deny_private_networks: raw.deny_private_networks.unwrap_or(d.deny_private_networks),
        progress_every: progress_every?,
    })
}
