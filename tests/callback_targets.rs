//! Where webhooks may go: `callback_url`s aimed at cloud metadata, unspecified addresses or
//! the gateway's own listeners are refused at create, and again at delivery on the address
//! actually connected to; redirects are never followed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use chrono::Utc;
use common::*;
use serde_json::{json, Value};
use taskgate::runtime::Runtime;
use taskgate::server::open_store;
use taskgate::Gateway;
use taskgate_sim::{Outcome, Script, SimServer};

const HOOKS: &str = r#"
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0}
store: ${STORE}
tasks: {refresh_after: 150ms, not_found_grace: 5s, watch_every: 300ms, give_up_after: 1h}
webhooks: {timeout: 2s, retry_base: 300ms, retry_max: 1s, give_up_after: 1h DENY}
providers:
  makevid: {type: makevid, base_url: "${SIM}", api_key: k-makevid, retries: 0}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    webhook_secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg="
    routes:
      text_to_video: [makevid]
"#;

fn template(deny_private: bool) -> String {
    let deny = if deny_private {
        ", deny_private_networks: true"
    } else {
        ""
    };
    HOOKS.replace(" DENY", deny)
}

/// Host names the tests own, each to loopback addresses; nothing else resolves. Counts
/// lookups, so a test can tell the resolver was asked.
#[derive(Default)]
struct TestResolver {
    names: HashMap<&'static str, Vec<IpAddr>>,
    lookups: AtomicU64,
}

impl reqwest::dns::Resolve for TestResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let found = self.names.get(name.as_str()).cloned();
        Box::pin(async move {
            let ips = found.ok_or("no such test name")?;
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

async fn start(deny_private: bool, resolver: Arc<TestResolver>) -> Harness {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(fast_script());
    let config = config_from(&template(deny_private), &sim.base_url(), "{kind: memory}");
    let store = open_store(&config.store).await.unwrap();
    let gateway = Gateway::start_with_resolver(config, store, resolver)
        .await
        .unwrap();
    Harness {
        base: format!("http://{}", gateway.tenant_addr),
        admin: format!("http://{}", gateway.admin_addr),
        sim,
        gateway,
        http: reqwest::Client::new(),
    }
}

async fn harness() -> Harness {
    start(false, Arc::default()).await
}

/// A webhook receiver on loopback: counts POSTs and answers each with `status` (and
/// `location`, when set).
#[derive(Clone)]
struct Receiver {
    posts: Arc<AtomicU64>,
    url: String,
    port: u16,
}

impl Receiver {
    async fn start(status: u16, location: Option<String>) -> Receiver {
        let posts = Arc::new(AtomicU64::new(0));
        let counter = posts.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move || {
                let counter = counter.clone();
                let location = location.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let mut headers = HeaderMap::new();
                    if let Some(to) = location {
                        headers.insert("location", HeaderValue::from_str(&to).unwrap());
                    }
                    (StatusCode::from_u16(status).unwrap(), headers).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            posts,
            url: format!("http://127.0.0.1:{port}/hooks"),
            port,
        }
    }

    fn posts(&self) -> u64 {
        self.posts.load(Ordering::SeqCst)
    }
}

/// Waits until `done()` holds, or panics after `limit` naming `what`.
async fn wait_for(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn attempts(h: &Harness) -> (u64, u64, u64) {
    let counts = &h.gateway.state.webhook_attempts;
    (
        counts.delivered.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
    )
}

async fn metrics(h: &Harness) -> String {
    h.http
        .get(format!("{}/metrics", h.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn with_callback(url: &str) -> Value {
    json!({"type": "text_to_video", "input": {"prompt": "fox"}, "callback_url": url})
}

/// Whether any delivery is still waiting for an attempt, however far in the future: a
/// refused delivery must not be.
async fn pending_deliveries(h: &Harness) -> usize {
    let far = Utc::now() + chrono::Duration::days(30);
    h.gateway
        .state
        .store
        .claim_deliveries("test-probe", far, Duration::from_secs(1), 100)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn callback_urls_at_metadata_unspecified_or_the_gateway_itself_are_refused_at_create() {
    let h = harness().await;
    let admin_port = h.gateway.admin_addr.port();
    let tenant_port = h.gateway.tenant_addr.port();
    let urls = [
        // The issue's four.
        "http://169.254.169.254/latest/meta-data/iam".to_string(),
        "http://[::ffff:169.254.169.254]/x".to_string(),
        "http://0.0.0.0:9/x".to_string(),
        format!("http://127.0.0.1:{admin_port}/admin/tasks"),
        // The same places, spelled otherwise.
        "http://2852039166/latest".to_string(),
        "http://0xA9FEA9FE/latest".to_string(),
        "http://0251.0376.0251.0376/latest".to_string(),
        "http://[::169.254.169.254]/x".to_string(),
        "http://[64:ff9b::a9fe:a9fe]/x".to_string(),
        "http://[fe80::1]/x".to_string(),
        "http://[fe80::1%25eth0]/x".to_string(),
        "http://[::]/x".to_string(),
        "http://0/x".to_string(),
        "http://224.0.0.1/x".to_string(),
        "http://255.255.255.255/x".to_string(),
        "http://[ff02::1]/x".to_string(),
        format!("http://[::ffff:127.0.0.1]:{admin_port}/metrics"),
        format!("http://localhost:{admin_port}/metrics"),
        format!("http://127.0.0.1:{tenant_port}/v1/tasks"),
    ];
    for url in &urls {
        let res = h.post(KEY_A, "/v1/tasks", &with_callback(url)).await;
        let body = expect_error(res, 400, "invalid_request").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("callback_url:"), "{url}: {message}");
    }
    let list: Value = h.get(KEY_A, "/v1/tasks").await.json().await.unwrap();
    assert_eq!(list["data"], json!([]), "no task was created");
    assert_eq!(h.sim.tasks().len(), 0, "nothing was sent upstream");
}

#[tokio::test]
async fn a_loopback_receiver_is_accepted_by_default_and_refused_with_deny_private_networks() {
    let receiver = Receiver::start(200, None).await;
    let h = harness().await;
    let task = h.create(with_callback(&receiver.url)).await;
    wait_for(
        "the webhook reached the receiver",
        Duration::from_secs(10),
        || receiver.posts() == 1,
    )
    .await;
    assert_eq!(
        h.wait_status(task["id"].as_str().unwrap(), "succeeded")
            .await["id"],
        task["id"]
    );

    let strict = start(true, Arc::default()).await;
    let res = strict
        .post(KEY_A, "/v1/tasks", &with_callback(&receiver.url))
        .await;
    let body = expect_error(res, 400, "invalid_request").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deny_private_networks"),
        "{body}"
    );
    // Metadata stays refused with the switch on, too.
    let res = strict
        .post(
            KEY_A,
            "/v1/tasks",
            &with_callback("http://169.254.169.254/x"),
        )
        .await;
    expect_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_name_that_resolves_to_the_admin_listener_is_never_delivered_there() {
    let receiver = Receiver::start(200, None).await;
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let resolver = Arc::new(TestResolver {
        names: HashMap::from([
            ("hooks.test", vec![loopback]),
            ("admin.hooks.test", vec![loopback]),
        ]),
        lookups: AtomicU64::new(0),
    });
    let h = start(false, resolver.clone()).await;
    let admin_port = h.gateway.admin_addr.port();
    // Names are not resolved at create: both are accepted.
    let aimed = h
        .create(with_callback(&format!(
            "http://admin.hooks.test:{admin_port}/healthz"
        )))
        .await;
    let control = h
        .create(with_callback(&format!(
            "http://hooks.test:{}/hooks",
            receiver.port
        )))
        .await;
    assert_eq!(resolver.lookups.load(Ordering::Relaxed), 0);

    wait_for(
        "one delivery refused and one delivered",
        Duration::from_secs(10),
        || attempts(&h) == (1, 1, 1),
    )
    .await;
    assert_eq!(
        receiver.posts(),
        1,
        "the same resolver delivers to a receiver"
    );
    assert!(resolver.lookups.load(Ordering::Relaxed) >= 2);
    for task in [&aimed, &control] {
        h.wait_status(task["id"].as_str().unwrap(), "succeeded")
            .await;
    }
    let text = metrics(&h).await;
    assert!(
        text.contains(r#"taskgate_webhook_deliveries_total{outcome="refused"} 1"#),
        "{text}"
    );
    // A POST to /healthz would have been answered 405 and counted on that route.
    let on_healthz: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("taskgate_http_requests_total") && l.contains("/healthz"))
        .collect();
    assert!(
        on_healthz.is_empty(),
        "the admin listener saw: {on_healthz:?}"
    );
    assert_eq!(
        pending_deliveries(&h).await,
        0,
        "a refused delivery is not retried"
    );
}

#[tokio::test]
async fn a_literal_address_is_checked_again_at_delivery() {
    let receiver = Receiver::start(200, None).await;
    let h = harness().await;
    h.sim.set_scenario(Script::timed(0, 0, 3_600_000));
    let task = h.create(with_callback(&receiver.url)).await;
    // The policy tightens (as a reload would) after the create, before the task ends.
    let current = h.gateway.state.runtime.load_full();
    let mut config = current.config.clone();
    config.webhooks.deny_private_networks = true;
    let tightened = Runtime::build(config, Some(&current)).unwrap();
    h.gateway.state.runtime.store(Arc::new(tightened));
    let provider_task = task["provider_task_id"].as_str().unwrap();
    assert!(h.sim.finish(provider_task, Outcome::Succeed));
    h.wait_status(task["id"].as_str().unwrap(), "succeeded")
        .await;
    wait_for("the delivery was refused", Duration::from_secs(10), || {
        attempts(&h) == (0, 1, 1)
    })
    .await;
    assert_eq!(receiver.posts(), 0);
    assert_eq!(
        pending_deliveries(&h).await,
        0,
        "a refused delivery is not retried"
    );
}

#[tokio::test]
async fn a_redirect_from_a_receiver_is_not_followed() {
    let second = Receiver::start(200, None).await;
    let first = Receiver::start(307, Some(second.url.clone())).await;
    let h = harness().await;
    h.create(with_callback(&first.url)).await;
    // The retry comes only after the first attempt is over, redirect and all.
    wait_for("a retry after the 307", Duration::from_secs(10), || {
        first.posts() >= 2
    })
    .await;
    assert_eq!(second.posts(), 0, "the redirect was followed");
    let (delivered, _, refused) = attempts(&h);
    assert_eq!((delivered, refused), (0, 0));
}
