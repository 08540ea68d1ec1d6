//! The test harness: the simulator and the real gateway on loopback, two tenants, and
//! small HTTP helpers. Nothing here leaves 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod flows;
pub mod process;
pub mod python;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskgate::Gateway;
use taskgate_config::{format_key_hash, from_yaml, hash_key};
use taskgate_sim::{Script, SimServer};

/// A schema of its own per test in the test PostgreSQL database: the store crate's fixture.
#[path = "../../crates/store/tests/common/postgres.rs"]
pub mod postgres;

pub const KEY_A: &str = "tg_test_tenant_acme_0123456789abcdef";
pub const KEY_B: &str = "tg_test_tenant_beta_0123456789abcdef";
/// The acme tenant's own makevid key (sent instead of the provider's).
pub const ACME_MAKEVID_KEY: &str = "acme-own-makevid-key";

/// The test config; `${SIM}` is the simulator, `${STORE}` the store section.
pub const CONFIG: &str = r#"
server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  max_body_bytes: 16384
  request_timeout: 10s
store: ${STORE}
tasks:
  refresh_after: 150ms
  not_found_grace: 3s
  watch_every: 1s
  give_up_after: 1h
providers:
  comet-compat: {type: cometapi_compat, base_url: "${SIM}", api_key: provider-key-compat, timeout: 2s, retries: 0}
  comet-official: {type: cometapi_official, base_url: "${SIM}", api_key: provider-key-official, timeout: 2s, retries: 0}
  runway: {type: runway, base_url: "${SIM}", api_key: provider-key-runway, timeout: 2s, retries: 0}
  makevid: {type: makevid, base_url: "${SIM}", api_key: provider-key-makevid, timeout: 2s, retries: 0}
  dead: {type: runway, base_url: "http://127.0.0.1:1", api_key: provider-key-dead, timeout: 2s, retries: 0}
  slow: {type: runway, base_url: "${SIM}", api_key: provider-key-slow, timeout: 500ms, retries: 0}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    routes:
      text_to_video: [makevid, comet-compat]
      image_to_video: [comet-official, makevid]
      video_to_video: [comet-official, comet-compat]
      character_performance: [runway, comet-official]
      text_to_image: [dead, comet-official]
      upscale: [slow, runway]
    upstream_keys:
      makevid: acme-own-makevid-key
  beta:
    keys: ["${KEY_B_HASH}"]
    routes:
      text_to_video: [makevid]
"#;

pub struct Harness {
    pub sim: SimServer,
    pub gateway: Gateway,
    pub http: reqwest::Client,
    pub base: String,
    pub admin: String,
}

/// Short task lives so a whole test takes a second or two.
pub fn fast_script() -> Script {
    Script::timed(300, 300, 600)
}

pub fn config_text(sim_url: &str, store: &str) -> taskgate_config::Config {
    config_from(CONFIG, sim_url, store)
}

/// Builds a config from a template with the `${SIM}`, `${STORE}` and key placeholders.
pub fn config_from(template: &str, sim_url: &str, store: &str) -> taskgate_config::Config {
    let env = |name: &str| match name {
        "SIM" => Some(sim_url.to_string()),
        "STORE" => Some(store.to_string()),
        "KEY_A_HASH" => Some(format_key_hash(&hash_key(KEY_A))),
        "KEY_B_HASH" => Some(format_key_hash(&hash_key(KEY_B))),
        _ => None,
    };
    // STORE is a YAML fragment, so substitute it before parsing.
    let text = template.replace("${STORE}", store);
    from_yaml(&text, &env).unwrap_or_else(|e| panic!("test config: {e}"))
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with_store("{kind: memory}").await
    }

    pub async fn start_with_store(store: &str) -> Harness {
        Harness::start_with(CONFIG, store).await
    }

    /// Starts against a config template of the test's own (see [`config_from`]).
    pub async fn start_with(template: &str, store: &str) -> Harness {
        let sim = SimServer::start().await.unwrap();
        sim.set_scenario(fast_script());
        let config = config_from(template, &sim.base_url(), store);
        let gateway = Gateway::start(config).await.unwrap();
        let base = format!("http://{}", gateway.tenant_addr);
        let admin = format!("http://{}", gateway.admin_addr);
        Harness {
            sim,
            gateway,
            http: reqwest::Client::new(),
            base,
            admin,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, key: &str, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a task as acme and returns the task JSON (asserting 202).
    pub async fn create(&self, body: Value) -> Value {
        let res = self.post(KEY_A, "/v1/tasks", &body).await;
        let status = res.status().as_u16();
        let json: Value = res.json().await.unwrap();
        assert_eq!(status, 202, "create answered {status}: {json}");
        json
    }

    /// Reads the task until `done(task)` holds, or panics after `limit`.
    pub async fn wait_until(
        &self,
        key: &str,
        id: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let res = self.get(key, &format!("/v1/tasks/{id}")).await;
            assert_eq!(res.status(), 200);
            let task: Value = res.json().await.unwrap();
            if done(&task) {
                return task;
            }
            assert!(
                start.elapsed() < limit,
                "task never reached the state; last: {task}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        self.wait_until(KEY_A, id, Duration::from_secs(10), |t| {
            t["status"] == status
        })
        .await
    }
}

/// Waits until `done()` holds, or panics after `limit` saying `what` never happened. For
/// effects that trail an answer, e.g. the simulator seeing a request its client gave up on.
pub async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts the contract's error shape and returns the body.
pub async fn expect_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    let got = res.status().as_u16();
    let has_request_id = res.headers().contains_key("x-request-id");
    let text = res.text().await.unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({got}): {text}"));
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["error"]["request_id"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(has_request_id, "x-request-id missing");
    body
}

pub fn text_to_video() -> Value {
    json!({"type": "text_to_video", "input": {"prompt": "a red fox runs through snow"}})
}

/// The same `Idempotency-Key` and body return the same task with one upstream create; the
/// same key with another body is `409 conflict`. Shared by every store's tests.
pub async fn same_key_same_body_creates_once(h: &Harness) {
    let send = |body: Value| {
        h.http
            .post(h.url("/v1/tasks"))
            .bearer_auth(KEY_A)
            .header("Idempotency-Key", "order-17")
            .json(&body)
            .send()
    };
    let first: Value = send(text_to_video()).await.unwrap().json().await.unwrap();
    let second = send(text_to_video()).await.unwrap();
    assert_eq!(second.status(), 202);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(h.sim.stats().creates_total(), 1);
    let other = send(json!({"type": "text_to_video", "input": {"prompt": "another fox"}}))
        .await
        .unwrap();
    expect_error(other, 409, "conflict").await;
}
