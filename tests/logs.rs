//! The log: JSON lines whose request line carries request id, tenant, route, status and
//! latency, and whose upstream lines carry provider and upstream latency — and, through a
//! whole workload at `RUST_LOG=debug`, no secret of the config ever printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use common::process::{temp_dir, write_atomically, Gateway as Process};
use serde_json::{json, Value};
use taskgate_config::{format_key_hash, hash_key};
use taskgate_sim::{FaultKind, FaultRule, Op, OpFilter, Provider, ProviderFilter, SimServer};

/// Every secret of the run, distinct and unguessable, by what it is.
struct Secrets {
    tenant_a: String,
    tenant_b: String,
    wrong_key: String,
    makevid: String,
    comet: String,
    runway: String,
    dead: String,
    acme_runway: String,
    acme_makevid: String,
    webhook: String,
}

impl Secrets {
    fn new() -> Secrets {
        let s = |what: &str| format!("{what}-{}", ulid::Ulid::new());
        let random: [u8; 24] = rand::random();
        Secrets {
            tenant_a: s("tg_tenant_a"),
            tenant_b: s("tg_tenant_b"),
            wrong_key: s("tg_wrong"),
            makevid: s("pk_makevid"),
            comet: s("pk_comet"),
            runway: s("pk_runway"),
            dead: s("pk_dead"),
            acme_runway: s("uk_acme_runway"),
            acme_makevid: s("uk_acme_makevid"),
            webhook: format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(random)
            ),
        }
    }

    fn env(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("LOGS_MAKEVID_KEY", &self.makevid),
            ("LOGS_COMET_KEY", &self.comet),
            ("LOGS_RUNWAY_KEY", &self.runway),
            ("LOGS_DEAD_KEY", &self.dead),
            ("LOGS_ACME_RUNWAY_KEY", &self.acme_runway),
            ("LOGS_ACME_MAKEVID_KEY", &self.acme_makevid),
            ("LOGS_WEBHOOK_SECRET", &self.webhook),
        ]
    }

    fn all(&self) -> Vec<(&'static str, &str)> {
        let mut all = self.env();
        all.push(("tenant key a", &self.tenant_a));
        all.push(("tenant key b", &self.tenant_b));
        all.push(("a wrong key", &self.wrong_key));
        // The webhook secret's key material alone, too.
        all.push(("webhook key", self.webhook.trim_start_matches("whsec_")));
        all
    }
}

fn config_text(dir: &std::path::Path, sim: &str, s: &Secrets) -> String {
    format!(
        r#"
server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  request_timeout: 10s
  shutdown_grace: 5s
store: {{kind: sqlite, path: "{db}"}}
tasks: {{refresh_after: 100ms, not_found_grace: 3s, watch_every: 1s, give_up_after: 1h}}
providers:
  makevid: {{type: makevid, base_url: "{sim}", api_key: "${{LOGS_MAKEVID_KEY}}", timeout: 2s, retries: 1}}
  comet-official: {{type: cometapi_official, base_url: "{sim}", api_key: "${{LOGS_COMET_KEY}}", timeout: 2s, retries: 1}}
  comet-compat: {{type: cometapi_compat, base_url: "{sim}", api_key: "${{LOGS_COMET_KEY}}", timeout: 2s, retries: 1}}
  runway: {{type: runway, base_url: "{sim}", api_key: "${{LOGS_RUNWAY_KEY}}", timeout: 2s, retries: 1}}
  dead: {{type: runway, base_url: "http://127.0.0.1:1", api_key: "${{LOGS_DEAD_KEY}}", timeout: 1s, retries: 1}}
tenants:
  acme:
    keys: ["{hash_a}"]
    webhook_secret: "${{LOGS_WEBHOOK_SECRET}}"
    routes:
      text_to_video: [makevid, comet-compat]
      image_to_video: [comet-official, makevid]
      character_performance: [runway]
      text_to_image: [dead, runway]
    upstream_keys:
      runway: "${{LOGS_ACME_RUNWAY_KEY}}"
      makevid: "${{LOGS_ACME_MAKEVID_KEY}}"
  beta:
    keys: ["{hash_b}"]
    routes:
      text_to_video: [makevid, comet-compat]
      image_to_video: [comet-official]
"#,
        db = dir.join("tasks.db").display(),
        hash_a = format_key_hash(&hash_key(&s.tenant_a)),
        hash_b = format_key_hash(&hash_key(&s.tenant_b)),
    )
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        res.json().await.unwrap_or(Value::Null)
    }
}

/// Creates, reads, lists, cancels, pass-through calls, refusals and upstream faults.
async fn workload(sim: &SimServer, c: &Client, s: &Secrets) {
    let a = s.tenant_a.as_str();
    let b = s.tenant_b.as_str();
    sim.push_fault(
        FaultRule::on(
            Provider::Makevid,
            Op::Create,
            FaultKind::Status {
                code: 503,
                retry_after_s: None,
                retry_after_ms: Some(10),
            },
        )
        .times(1),
    );
    sim.push_fault(FaultRule {
        provider: ProviderFilter::Only(Provider::CometOfficial),
        op: OpFilter::Only(Op::Poll),
        kind: FaultKind::MalformedJson,
        count: Some(1),
    });
    let mut ids = Vec::new();
    for (key, body) in [
        (
            a,
            json!({"type": "text_to_video", "input": {"prompt": "a fox"}, "callback_url": "http://127.0.0.1:9/hook", "metadata": {"order": "A-1"}}),
        ),
        (
            b,
            json!({"type": "text_to_video", "input": {"prompt": "a fox"}}),
        ),
        (
            b,
            json!({"type": "image_to_video", "input": {"image_url": "https://img.example/a.jpg"}}),
        ),
        (
            a,
            json!({"type": "character_performance", "input": {"character_url": "https://img.example/c.jpg", "reference_video_url": "https://v.example/r.mp4"}}),
        ),
        (
            a,
            json!({"type": "text_to_image", "input": {"prompt": "a fox"}}),
        ),
        (
            a,
            json!({"type": "upscale", "input": {"video_url": "https://v.example/r.mp4"}}),
        ),
        (
            a,
            json!({"type": "text_to_video", "input": {"prompt": "x", "extra": {"sim": {"queued_ms": 60000}}}}),
        ),
    ] {
        let task = c.send(key, "POST", "/v1/tasks", Some(body)).await;
        if let Some(id) = task["id"].as_str() {
            ids.push((key, id.to_string(), task["provider_task_id"].clone()));
        }
    }
    assert!(ids.len() >= 5, "{ids:?}");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        for (key, id, _) in &ids {
            c.send(key, "GET", &format!("/v1/tasks/{id}"), None).await;
        }
    }
    c.send(a, "GET", "/v1/tasks?limit=10", None).await;
    c.send(b, "GET", "/v1/tasks?status=running", None).await;
    c.send(a, "GET", "/v1/providers", None).await;
    for (key, id, _) in &ids {
        c.send(key, "POST", &format!("/v1/tasks/{id}/cancel"), None)
            .await;
    }
    // Pass-through with the tenant's upstream key and with the provider's own.
    if let Some((_, _, Value::String(upstream_id))) = ids.iter().find(|(_, _, p)| p.is_string()) {
        c.send(
            a,
            "GET",
            &format!("/proxy/runway/v1/tasks/{upstream_id}"),
            None,
        )
        .await;
    }
    c.send(
        a,
        "POST",
        "/proxy/makevid/_sim/echo",
        Some(json!({"hello": 1})),
    )
    .await;
    c.send(b, "GET", "/proxy/makevid/api/v1/get_runway/nope", None)
        .await;
    c.send(a, "GET", "/proxy/dead/v1/tasks/x", None).await;
    // Refusals.
    c.send(&s.wrong_key, "GET", "/v1/tasks", None).await;
    c.send(b, "GET", "/proxy/runway/v1/tasks/x", None).await;
    c.send(a, "POST", "/v1/tasks", Some(json!({"type": "nope"})))
        .await;
}

#[tokio::test]
async fn no_secret_is_ever_logged_and_lines_carry_their_fields() {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(taskgate_sim::Script::timed(100, 200, 300));
    let secrets = Secrets::new();
    let dir = temp_dir("logs");
    let path = dir.join("taskgate.yaml");
    let text = config_text(&dir, &sim.base_url(), &secrets);
    write_atomically(&path, &text);
    let env = secrets.env();
    let mut gateway = Process::start(&path, &env, "debug").await;
    let client = Client {
        http: reqwest::Client::new(),
        base: gateway.base.clone(),
    };
    workload(&sim, &client, &secrets).await;
    let admin = reqwest::Client::new();
    for path in ["/metrics", "/readyz", "/healthz"] {
        admin
            .get(format!("{}{path}", gateway.admin))
            .send()
            .await
            .unwrap();
    }
    // A reload (SIGHUP after a change) and a rejected one log too.
    write_atomically(
        &path,
        &text.replace("shutdown_grace: 5s", "shutdown_grace: 4s"),
    );
    gateway.signal("HUP");
    gateway
        .wait_for_log(Duration::from_secs(5), |v| {
            v["message"] == "config reloaded"
        })
        .await
        .unwrap();
    write_atomically(
        &path,
        &text.replace("${LOGS_DEAD_KEY}", "${LOGS_UNSET_VAR}"),
    );
    gateway
        .wait_for_log(Duration::from_secs(5), |v| {
            v["message"] == "config reload rejected; keeping the running config"
        })
        .await
        .unwrap();
    gateway.signal("TERM");
    let exit = gateway.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(exit.code(), Some(0));

    let stderr = gateway.stderr();
    let lines = stderr.lines().count();
    for (what, secret) in secrets.all() {
        assert!(
            !stderr.contains(secret),
            "{what} appears in the log ({lines} lines)"
        );
    }
    assert!(lines > 100, "a debug run logs plenty: {lines} lines");

    let log = gateway.log();
    let not_json = stderr
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_err())
        .count();
    assert_eq!(not_json, 0, "every line is JSON");
    let created = log
        .iter()
        .find(|v| v["message"] == "request finished" && v["status"] == 202)
        .expect("a request line for a create");
    let span = &created["span"];
    assert_eq!(span["route"], "/v1/tasks", "{created}");
    assert_eq!(span["method"], "POST", "{created}");
    assert!(
        span["tenant"] == "acme" || span["tenant"] == "beta",
        "{created}"
    );
    assert!(
        span["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{created}"
    );
    assert!(created["latency_ms"].as_f64().is_some(), "{created}");
    let upstream = log
        .iter()
        .find(|v| v["message"] == "upstream call" && v["operation"] == "create")
        .expect("an upstream call line");
    assert!(upstream["provider"].is_string(), "{upstream}");
    assert!(upstream["upstream_latency_ms"].is_u64(), "{upstream}");
    assert!(
        upstream["span"]["request_id"].is_string(),
        "an upstream line is tied to its request: {upstream}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
