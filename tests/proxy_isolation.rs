//! The pass-through's safety: its path never leaves the provider's base path, whatever the
//! spelling, and on a provider key that tenants share, a tenant reaches only its own
//! provider tasks (created through the stable API or through the pass-through).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::python::{assert_success, python_or_skip, run_python, tests_python};
use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Both tenants use every provider on the provider's own key: none has `upstream_keys`.
const SHARED: &str = r#"
server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  request_timeout: 10s
store: ${STORE}
tasks: {refresh_after: 150ms, not_found_grace: 3s, watch_every: 1s, give_up_after: 1h}
providers:
  comet-compat: {type: cometapi_compat, base_url: "${SIM}", api_key: shared-compat, timeout: 2s, retries: 0}
  comet-official: {type: cometapi_official, base_url: "${SIM}", api_key: shared-official, timeout: 2s, retries: 0}
  runway: {type: runway, base_url: "${SIM}", api_key: shared-runway, timeout: 2s, retries: 0}
  makevid: {type: makevid, base_url: "${SIM}", api_key: shared-makevid, timeout: 2s, retries: 0}
  own: {type: runway, base_url: "${SIM}", api_key: shared-own, timeout: 2s, retries: 0}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    routes: &routes
      text_to_video: [comet-compat, makevid]
      image_to_video: [runway, comet-official, makevid]
    upstream_keys: {own: acme-own-key}
  beta:
    keys: ["${KEY_B_HASH}"]
    routes: *routes
    upstream_keys: {own: beta-own-key}
"#;

/// Creates a task through the stable API on `provider`: its id and its provider task id.
async fn stable_task(h: &Harness, provider: &str, kind: &str) -> (String, String) {
    let input = if kind == "text_to_video" {
        json!({"prompt": "a fox"})
    } else {
        json!({"image_url": "https://img.example/fox.jpg", "prompt": "a fox"})
    };
    let res = h
        .post(
            KEY_A,
            "/v1/tasks",
            &json!({"type": kind, "input": input, "provider": provider}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let task: Value = res.json().await.unwrap();
    assert_eq!(task["provider"], provider);
    let id = |field: &str| task[field].as_str().unwrap().to_owned();
    (id("id"), id("provider_task_id"))
}

async fn proxy(
    h: &Harness,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = h.http.request(method, h.url(path)).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// The gateway's own 404, exactly as for a task that never existed; nothing sent upstream.
async fn not_theirs(
    h: &Harness,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) {
    let before = h.sim.stats();
    expect_error(proxy(h, key, method, path, body).await, 404, "not_found").await;
    let after = h.sim.stats();
    assert_eq!(
        (
            after.polls_total(),
            after.cancels_total(),
            after.creates_total()
        ),
        (
            before.polls_total(),
            before.cancels_total(),
            before.creates_total()
        ),
        "{path} reached the provider"
    );
}

/// The request went to the provider as one poll (a fresh task may still answer "not found"
/// there: that is the provider's answer, passed back).
async fn reaches_provider(
    h: &Harness,
    request: impl std::future::Future<Output = reqwest::Response>,
) {
    let before = h.sim.stats().polls_total();
    let res = request.await;
    assert_ne!(res.status(), 404, "{}", res.text().await.unwrap());
    assert_eq!(h.sim.stats().polls_total(), before + 1);
}

async fn shared_key_isolation(store: &str) {
    let h = Harness::start_with(SHARED, store).await;
    use reqwest::Method as M;

    // Runway: GET and DELETE /v1/tasks/{id}.
    let (runway_task, runway_id) = stable_task(&h, "runway", "image_to_video").await;
    let path = format!("/proxy/runway/v1/tasks/{runway_id}");
    for method in [M::GET, M::DELETE, M::HEAD] {
        let res = proxy(&h, KEY_B, method.clone(), &path, None).await;
        assert_eq!(res.status(), 404, "{method} by another tenant");
        if method != M::HEAD {
            expect_error(res, 404, "not_found").await;
        }
    }
    assert_eq!(
        h.sim.stats().cancels_total(),
        0,
        "the other tenant's DELETE went upstream"
    );
    reaches_provider(&h, proxy(&h, KEY_A, M::GET, &path, None)).await;

    // CometAPI official: GET /runwayml/v1/tasks/{id}.
    let (_, official_id) = stable_task(&h, "comet-official", "image_to_video").await;
    let path = format!("/proxy/comet-official/runwayml/v1/tasks/{official_id}");
    not_theirs(&h, KEY_B, M::GET, &path, None).await;
    reaches_provider(&h, proxy(&h, KEY_A, M::GET, &path, None)).await;
    // The same id through another provider of the same account is not the tenant's either.
    let other = format!("/proxy/runway/v1/tasks/{official_id}");
    not_theirs(&h, KEY_A, M::GET, &other, None).await;

    // CometAPI compat: POST /runway/feed with the id in the body.
    let (_, compat_id) = stable_task(&h, "comet-compat", "text_to_video").await;
    let feed = json!({"task_id": compat_id});
    not_theirs(
        &h,
        KEY_B,
        M::POST,
        "/proxy/comet-compat/runway/feed",
        Some(feed.clone()),
    )
    .await;
    reaches_provider(
        &h,
        proxy(
            &h,
            KEY_A,
            M::POST,
            "/proxy/comet-compat/runway/feed",
            Some(feed),
        ),
    )
    .await;
    not_theirs(
        &h,
        KEY_A,
        M::POST,
        "/proxy/comet-compat/runway/feed",
        Some(json!({"id": 1})),
    )
    .await;

    // A feed naming the task twice cannot pass the check on one id and reach the other.
    let twice = format!(r#"{{"task_id":"{compat_id}","task_id":"{compat_id}"}}"#);
    let before = h.sim.stats();
    let res = h
        .http
        .post(h.url("/proxy/comet-compat/runway/feed"))
        .bearer_auth(KEY_A)
        .header("content-type", "application/json")
        .body(twice)
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found").await;
    assert_eq!(
        h.sim.stats(),
        before,
        "a duplicated task_id reached the provider"
    );

    // makevid: GET /api/v1/get_runway/{id}.
    let (_, makevid_id) = stable_task(&h, "makevid", "text_to_video").await;
    let path = format!("/proxy/makevid/api/v1/get_runway/{makevid_id}");
    not_theirs(&h, KEY_B, M::GET, &path, None).await;
    reaches_provider(&h, proxy(&h, KEY_A, M::GET, &path, None)).await;

    // A task created at the provider outside the gateway is nobody's here.
    let outside: Value = h
        .http
        .post(format!("{}/v1/image_to_video", h.sim.base_url()))
        .bearer_auth("shared-runway")
        .header("x-runway-version", "2024-11-06")
        .json(&json!({"promptImage": "https://img.example/a.jpg", "model": "gen4_turbo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outside = format!("/proxy/runway/v1/tasks/{}", outside["id"].as_str().unwrap());
    for key in [KEY_A, KEY_B] {
        not_theirs(&h, key, M::GET, &outside, None).await;
    }

    // Tasks created through the pass-through belong to their creator.
    let created: Value = proxy(
        &h,
        KEY_B,
        M::POST,
        "/proxy/runway/v1/image_to_video",
        Some(json!({"promptImage": "https://img.example/b.jpg", "model": "gen4_turbo", "ratio": "1280:720"})),
    )
    .await
    .json()
    .await
    .unwrap();
    let path = format!("/proxy/runway/v1/tasks/{}", created["id"].as_str().unwrap());
    reaches_provider(&h, proxy(&h, KEY_B, M::GET, &path, None)).await;
    not_theirs(&h, KEY_A, M::GET, &path, None).await;
    not_theirs(&h, KEY_A, M::DELETE, &path, None).await;
    assert_eq!(proxy(&h, KEY_B, M::DELETE, &path, None).await.status(), 204);

    let created: Value = proxy(
        &h,
        KEY_B,
        M::POST,
        "/proxy/comet-compat/runway/pro/generate",
        Some(json!({"prompt": "a cat", "model": "gen4", "options": {"seconds": 5}})),
    )
    .await
    .json()
    .await
    .unwrap();
    let feed = json!({"task_id": created["data"]["task_id"]});
    reaches_provider(
        &h,
        proxy(
            &h,
            KEY_B,
            M::POST,
            "/proxy/comet-compat/runway/feed",
            Some(feed.clone()),
        ),
    )
    .await;
    not_theirs(
        &h,
        KEY_A,
        M::POST,
        "/proxy/comet-compat/runway/feed",
        Some(feed),
    )
    .await;

    // Account-wide routes do not go through a shared key; with the tenant's own key they do.
    not_theirs(&h, KEY_A, M::GET, "/proxy/runway/v1/organization", None).await;
    let res = proxy(&h, KEY_A, M::GET, "/proxy/own/_sim/echo", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-sim-echo-uri"], "/_sim/echo");

    // Nothing of the refused requests reached the provider, and acme's tasks are intact.
    assert_eq!(
        h.sim.stats().cancels_total(),
        1,
        "only beta's cancel of its own task"
    );
    assert_eq!(h.sim.task(&runway_id).unwrap().cancels, 0);
    let task: Value = h
        .get(KEY_A, &format!("/v1/tasks/{runway_task}"))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(task["status"], "canceled");
}

#[tokio::test]
async fn a_tenant_reaches_only_its_own_provider_tasks_on_a_shared_key_memory() {
    shared_key_isolation("{kind: memory}").await;
}

#[tokio::test]
async fn a_tenant_reaches_only_its_own_provider_tasks_on_a_shared_key_sqlite() {
    let dir = common::process::temp_dir("proxy-isolation");
    let store = format!(
        "{{kind: sqlite, path: \"{}\"}}",
        dir.join("tasks.db").display()
    );
    shared_key_isolation(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runways_own_sdk_on_the_shared_key_reaches_only_its_tenants_tasks() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let h = Harness::start_with(SHARED, "{kind: memory}").await;
    let (_, stable) = stable_task(&h, "runway", "image_to_video").await;
    let proxy = h.url("/proxy/runway");
    let dir = common::process::temp_dir("runwayml");
    let output = run_python(
        &python,
        &[&tests_python("runwayml_isolation.py")],
        &dir,
        &[
            ("TASKGATE_PROXY", proxy.as_str()),
            ("KEY_A", KEY_A),
            ("KEY_B", KEY_B),
            ("STABLE_TASK", stable.as_str()),
        ],
        std::time::Duration::from_secs(60),
    )
    .await;
    assert_success("runwayml_isolation.py", &output);
    // One cancel reached the provider: beta's of its own task.
    assert_eq!(h.sim.stats().cancels_total(), 1);
}

/// An upstream that answers 200 to anything and records the request target it was sent.
async fn recording_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/base", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
                log.lock().unwrap().push(target);
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (url, seen)
}

/// Sends `target` byte for byte (no client normalizes it) and returns status and body.
async fn raw_get(base: &str, target: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {KEY_A}\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test]
async fn no_spelling_of_a_dot_segment_leaves_the_base_path() {
    let (upstream, seen) = recording_upstream().await;
    // The tenant's own key for `echo`: the path check alone stands between it and the
    // rest of the upstream.
    let config = format!(
        r#"
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}}
store: ${{STORE}}
providers:
  echo: {{type: runway, base_url: "{upstream}", api_key: echo-key, timeout: 2s, retries: 0}}
tenants:
  acme: {{keys: ["${{KEY_A_HASH}}"], upstream_keys: {{echo: acme-echo-key}}}}
"#
    );
    let h = Harness::start_with(&config, "{kind: memory}").await;

    let (status, _) = raw_get(&h.base, "/proxy/echo/v1/tasks/x").await;
    assert_eq!(status, 200);
    let refused = [
        "/proxy/echo/..\\..\\admin",
        "/proxy/echo/v1\\..\\..\\admin",
        "/proxy/echo/..\\admin",
        "/proxy/echo/%2e%2e\\admin",
        "/proxy/echo/..%5c..%5cadmin",
        "/proxy/echo/..%5C..%5Cadmin",
        "/proxy/echo/../../admin",
        "/proxy/echo/%2e%2e/%2e%2e/admin",
        "/proxy/echo/.%2E/admin",
        "/proxy/echo/%252e%252e/admin",
        "/proxy/echo/..%2f..%2fadmin",
        "/proxy/echo/..;/admin",
        "/proxy/echo/v1/tasks/..",
        "/proxy/echo/./admin",
    ];
    for target in refused {
        let (status, body) = raw_get(&h.base, target).await;
        assert_eq!(status, 400, "{target}: {body}");
        let body: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{target}: {body}"));
        assert_eq!(body["error"]["code"], "invalid_request", "{target}");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["/base/v1/tasks/x"],
        "the upstream saw only the allowed request"
    );
}
