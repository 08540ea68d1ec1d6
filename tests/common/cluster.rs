//! Several real `taskgate serve` processes sharing the test PostgreSQL (a schema of their
//! own) and Redis (a namespace of their own), and small tools for the tests that use
//! them: a private `redis-server`, a webhook receiver, `/readyz` polling.
//!
//! Outside CI a test skips (with a notice) when PostgreSQL or Redis is unreachable; under
//! `CI=true` it fails instead.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use taskgate_config::{format_key_hash, hash_key};
use tokio::sync::watch;

use super::postgres::TestSchema;
use super::process::{temp_dir, Gateway};
use super::{KEY_A, KEY_B};

pub const REDIS_URL_ENV: &str = "TASKGATE_TEST_REDIS_URL";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn redis_url() -> String {
    std::env::var(REDIS_URL_ENV).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether Redis at `url` answers PING within 2 s.
pub async fn redis_answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let ping = async {
        let mut c = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut c).await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ping).await,
        Ok(Ok(_))
    )
}

/// True when the shared Redis answers; otherwise a notice (skip) or, on CI, a panic.
pub async fn shared_redis_or_skip() -> bool {
    let url = redis_url();
    if redis_answers(&url).await {
        return true;
    }
    if on_ci() {
        panic!("Redis is unreachable at {url} (CI=true, so this fails; set {REDIS_URL_ENV})");
    }
    eprintln!("notice: Redis is unreachable at {url}; skipping this test. Set {REDIS_URL_ENV}.");
    false
}

/// The webhook secret of tenant acme in [`BASE`].
pub const WEBHOOK_SECRET: &str = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg=";

/// The replicas' config. `${TENANT_LIMIT}` is a `rate_limit` line or nothing;
/// `${MAKEVID_MORE}` more settings of the provider, or nothing.
pub const BASE: &str = r#"
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0, request_timeout: 30s, shutdown_grace: 2s}
store: {kind: postgres, url: "${STORE_URL}"}
cluster: {redis_url: "${REDIS_URL}", replica_id: "${REPLICA}", namespace: "${NAMESPACE}"}
tasks: {refresh_after: ${REFRESH_AFTER}, not_found_grace: 5s, watch_every: ${WATCH_EVERY}, give_up_after: 1h}
webhooks: {timeout: 1s, retry_base: 200ms, retry_max: 400ms, give_up_after: 1h}
providers:
  makevid: {type: makevid, base_url: "${SIM}", api_key: k-makevid, timeout: 2s, retries: 0${MAKEVID_MORE}}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    webhook_secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg="
    routes: {text_to_video: [makevid]}
    ${TENANT_LIMIT}
  beta:
    keys: ["${KEY_B_HASH}"]
    routes: {text_to_video: [makevid]}
"#;

/// How to start the replicas.
pub struct Options {
    pub replicas: usize,
    pub watch_every: &'static str,
    pub refresh_after: &'static str,
    /// More makevid settings, e.g. `, circuit: {min_calls: 1000}`.
    pub makevid_more: &'static str,
    /// E.g. `rate_limit: {per_second: 20, burst: 5}`.
    pub tenant_limit: &'static str,
    /// `None`: the shared Redis.
    pub redis_url: Option<String>,
    /// Store outputs in one local folder all replicas share.
    pub outputs: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            replicas: 3,
            watch_every: "500ms",
            refresh_after: "300ms",
            makevid_more: "",
            tenant_limit: "",
            redis_url: None,
            outputs: false,
        }
    }
}

/// Running replicas with their schema (dropped last) and temp folder.
pub struct Replicas {
    pub gateways: Vec<Gateway>,
    pub namespace: String,
    pub http: reqwest::Client,
    dir: PathBuf,
    schema: TestSchema,
}

impl Replicas {
    /// `None` when PostgreSQL or the shared Redis is unreachable outside CI.
    pub async fn start(sim_url: &str, options: Options) -> Option<Replicas> {
        let redis = match options.redis_url.clone() {
            Some(url) => url,
            None => {
                if !shared_redis_or_skip().await {
                    return None;
                }
                redis_url()
            }
        };
        let schema = TestSchema::create().await?;
        let namespace = format!("tgtest-{}", ulid::Ulid::new());
        let dir = temp_dir("replicas");
        let mut starts = Vec::new();
        for n in 1..=options.replicas {
            let text = BASE
                .replace("${STORE_URL}", &schema.url())
                .replace("${REDIS_URL}", &redis)
                .replace("${REPLICA}", &format!("replica-{n}"))
                .replace("${NAMESPACE}", &namespace)
                .replace("${WATCH_EVERY}", options.watch_every)
                .replace("${REFRESH_AFTER}", options.refresh_after)
                .replace("${MAKEVID_MORE}", options.makevid_more)
                .replace("${SIM}", sim_url)
                .replace("${TENANT_LIMIT}", options.tenant_limit)
                .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A)))
                .replace("${KEY_B_HASH}", &format_key_hash(&hash_key(KEY_B)));
            let text = if options.outputs {
                let shared = dir.join("outputs");
                format!(
                    "{text}outputs: {{storage: {{kind: local, path: \"{}\"}}}}\n",
                    shared.display()
                )
            } else {
                text
            };
            let path = dir.join(format!("replica-{n}.yaml"));
            std::fs::write(&path, text).unwrap();
            starts.push(async move { Gateway::start(&path, &[], "info").await });
        }
        let gateways = futures::future::join_all(starts).await;
        Some(Replicas {
            gateways,
            namespace,
            http: reqwest::Client::new(),
            dir,
            schema,
        })
    }

    /// Tasks and webhook deliveries the store shows leased by `replica` now (a finished
    /// refresh or attempt clears its lease).
    pub async fn leases_held(&self, replica: &str) -> (i64, i64) {
        let tasks = self
            .count("SELECT count(*) FROM tasks WHERE lease_owner = $1", replica)
            .await;
        let deliveries = self
            .count(
                "SELECT count(*) FROM deliveries WHERE lease_owner = $1",
                replica,
            )
            .await;
        (tasks, deliveries)
    }

    /// The ids of the webhook deliveries the store shows leased by `replica` now.
    pub async fn leased_deliveries(&self, replica: &str) -> Vec<String> {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&self.schema.url())
            .await
            .unwrap();
        let ids = sqlx::query_scalar("SELECT id FROM deliveries WHERE lease_owner = $1")
            .bind(replica)
            .fetch_all(&mut db)
            .await
            .unwrap();
        let _ = db.close().await;
        ids
    }

    /// Webhook deliveries the store does not show as delivered yet: once 0, no attempt
    /// is left to come.
    pub async fn deliveries_undelivered(&self) -> i64 {
        self.count(
            "SELECT count(*) FROM deliveries WHERE status <> $1",
            "delivered",
        )
        .await
    }

    async fn count(&self, sql: &str, param: &str) -> i64 {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&self.schema.url())
            .await
            .unwrap();
        let n = sqlx::query_scalar(sql)
            .bind(param)
            .fetch_one(&mut db)
            .await
            .unwrap();
        let _ = db.close().await;
        n
    }

    /// The tenant base URL of replica `n` (from 0), round robin.
    pub fn base(&self, n: usize) -> &str {
        &self.gateways[n % self.gateways.len()].base
    }

    /// `/readyz` of replica `n`: its status code and body.
    pub async fn readyz(&self, n: usize) -> (u16, Value) {
        let g = &self.gateways[n % self.gateways.len()];
        match self.http.get(format!("{}/readyz", g.admin)).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                (status, res.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// Waits until every running replica's `/readyz` satisfies `pred`.
    pub async fn wait_ready(&self, limit: Duration, pred: impl Fn(&Value) -> bool) {
        let start = Instant::now();
        loop {
            let mut all = true;
            let mut last = Vec::new();
            for n in 0..self.gateways.len() {
                let (status, body) = self.readyz(n).await;
                all &= status == 200 && pred(&body);
                last.push(body);
            }
            if all {
                return;
            }
            assert!(start.elapsed() < limit, "readyz never matched: {last:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        self.gateways.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The password of [`PrivateRedis`]: tests check it never reaches a log.
pub const PRIVATE_REDIS_PASSWORD: &str = "tg-redis-secret-pw";

/// A `redis-server` of the test's own on a free port, with a password, which it may stop
/// and start again (the shared one is never touched).
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// `None` when `redis-server` is not installed, outside CI.
    pub async fn start() -> Option<PrivateRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let mut redis = PrivateRedis { port, child: None };
        if !redis.launch().await {
            if on_ci() {
                panic!("cannot start redis-server (CI=true, so this fails)");
            }
            eprintln!("notice: cannot start redis-server; skipping this test.");
            return None;
        }
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://:{PRIVATE_REDIS_PASSWORD}@127.0.0.1:{}", self.port)
    }

    /// Starts it on its port; true once it answers.
    pub async fn launch(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--requirepass", PRIVATE_REDIS_PASSWORD])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            return false;
        };
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if redis_answers(&self.url()).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// SIGKILL: gone at once, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An in-test webhook receiver: counts attempts and accepted deliveries per `webhook-id`,
/// refuses (500) where `refuse` says so, and, built with [`Receiver::holding`], keeps every
/// answer open until the test calls [`Receiver::release`].
#[derive(Clone, Default)]
pub struct Receiver {
    pub attempts: Arc<Mutex<HashMap<String, u32>>>,
    pub accepted: Arc<Mutex<HashMap<String, u32>>>,
    /// Attempts arrived and not answered yet whose sender is still connected, per id.
    open: Arc<Mutex<HashMap<String, u32>>>,
    /// While holding: set to true by [`Receiver::release`].
    hold: Option<Arc<watch::Sender<bool>>>,
}

/// One open attempt in [`Receiver`]'s count; hyper drops the handler, and this, when the
/// sender hangs up.
struct OpenAttempt {
    open: Arc<Mutex<HashMap<String, u32>>>,
    id: String,
}

impl OpenAttempt {
    fn new(open: &Arc<Mutex<HashMap<String, u32>>>, id: &str) -> OpenAttempt {
        *open.lock().unwrap().entry(id.to_string()).or_insert(0) += 1;
        OpenAttempt {
            open: open.clone(),
            id: id.to_string(),
        }
    }
}

impl Drop for OpenAttempt {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap();
        if let Some(n) = open.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.id);
            }
        }
    }
}

impl Receiver {
    /// A receiver that answers nothing until [`Receiver::release`]: every attempt stays in
    /// flight until its sender gives up (its `webhooks.timeout`), and is tried again.
    pub fn holding() -> Receiver {
        Receiver {
            hold: Some(Arc::new(watch::Sender::new(false))),
            ..Receiver::default()
        }
    }

    /// Ends the hold. Attempts held until now are refused (their sender may have given up
    /// on them already, so accepting one could count a delivery nobody recorded); later
    /// attempts go through `refuse`.
    pub fn release(&self) {
        if let Some(hold) = &self.hold {
            hold.send_replace(true);
        }
    }

    /// Serves on 127.0.0.1; returns its URL. `refuse(id, attempt, order)` decides a 500;
    /// `order` is 0 for the first id seen, 1 for the next, ...
    pub async fn start(
        &self,
        refuse: impl Fn(&str, u32, usize) -> bool + Send + Sync + Clone + 'static,
    ) -> String {
        let receiver = self.clone();
        let app = axum::Router::new().route(
            "/hooks",
            // The body is taken so hyper has read the whole request and notices at once
            // when the sender hangs up on a held answer.
            axum::routing::post(move |headers: HeaderMap, _body: axum::body::Bytes| {
                let receiver = receiver.clone();
                let refuse = refuse.clone();
                async move {
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let _open = OpenAttempt::new(&receiver.open, &id);
                    let (attempt, order) = {
                        let mut attempts = receiver.attempts.lock().unwrap();
                        let order = attempts.len();
                        let n = attempts.entry(id.clone()).or_insert(0);
                        *n += 1;
                        (*n, order)
                    };
                    if let Some(hold) = &receiver.hold {
                        if !*hold.borrow() {
                            let _ = hold.subscribe().wait_for(|released| *released).await;
                            return StatusCode::INTERNAL_SERVER_ERROR;
                        }
                    }
                    if refuse(&id, attempt, order) {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    *receiver.accepted.lock().unwrap().entry(id).or_insert(0) += 1;
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    pub fn accepted_ids(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    /// Distinct ids attempted at least once.
    pub fn attempted_ids(&self) -> usize {
        self.attempts.lock().unwrap().len()
    }

    /// Ids with an attempt open now (held, its sender still waiting).
    pub fn open_ids(&self) -> HashSet<String> {
        self.open.lock().unwrap().keys().cloned().collect()
    }

    /// Ids accepted more than once.
    pub fn duplicates(&self) -> Vec<(String, u32)> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, n)| (id.clone(), *n))
            .collect()
    }

    pub fn total_attempts(&self) -> u32 {
        self.attempts.lock().unwrap().values().sum()
    }
}
