//! `/openapi.json` judged by third-party tools, against the real gateway and simulator on
//! loopback: `openapi-spec-validator` validates it, schemathesis fuzzes the gateway with it
//! (bounded, fixed seed, stateful links), and a client generated from it by
//! `openapi-python-client` creates a task and reads it to `succeeded`.
//!
//! The tools live in a virtualenv that `.ci/setup` builds from `.ci/requirements.txt`; the
//! tests run its python (`TASKGATE_PYTHON`, else `.ci/venv/bin/python3`) and install
//! nothing. Without it a test skips with a notice, except under `CI=true`, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::cluster::Receiver;
use common::process::temp_dir;
use common::python::*;
use common::*;
use serde_json::{json, Value};

/// The tenant of the fuzz run: every task type routed over every provider that runs it
/// (makevid limited to 2 at once, so creates pinned to it also answer from the queue),
/// a rate limit far above what the run sends (so `429`s stay rare and legitimate), webhooks
/// allowed to loopback only, and room for the largest bodies the document allows. The
/// `public_url` lets comet-compat run `character_performance` (its `act_one` needs a callback
/// URL); the simulator never calls it.
const FUZZ_CONFIG: &str = r#"
server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  public_url: "https://gateway.internal:8443/"
  max_body_bytes: 1048576
  request_timeout: 30s
store: ${STORE}
tasks:
  refresh_after: 150ms
  not_found_grace: 3s
  watch_every: 1s
  give_up_after: 1h
webhooks: {timeout: 1s, retry_base: 200ms, retry_max: 400ms, give_up_after: 1h}
providers:
  comet-compat: {type: cometapi_compat, base_url: "${SIM}", api_key: provider-key-compat, timeout: 5s, retries: 0}
  comet-official: {type: cometapi_official, base_url: "${SIM}", api_key: provider-key-official, timeout: 5s, retries: 0}
  runway: {type: runway, base_url: "${SIM}", api_key: provider-key-runway, timeout: 5s, retries: 0}
  makevid: {type: makevid, base_url: "${SIM}", api_key: provider-key-makevid, timeout: 5s, retries: 0, max_concurrent: 2}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    rate_limit: {per_second: 1000, burst: 1000}
    webhook_secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg="
    allowed_callback_hosts: ["127.0.0.1"]
    routes:
      text_to_video: [makevid, comet-compat]
      image_to_video: [comet-official, makevid, comet-compat, runway]
      video_to_video: [comet-official, comet-compat, runway]
      character_performance: [runway, comet-official, comet-compat]
      text_to_image: [comet-official, runway]
      upscale: [runway, comet-official]
"#;

/// What the fuzz may pin per type: providers of [`FUZZ_CONFIG`] whose adapters take every
/// input the document allows for the type. A pinned provider that cannot express a field
/// answers `400` naming it (makevid has no `ratio`, runway no `strength`, ...), which no
/// static document can foresee; without a pin the route moves on to one that can.
const PINNABLE: &str = r#"{
  "text_to_video": ["comet-compat"],
  "image_to_video": ["comet-official", "runway"],
  "video_to_video": ["comet-compat"],
  "character_performance": ["runway", "comet-official"],
  "text_to_image": ["comet-official", "runway"],
  "upscale": ["runway", "comet-official"]
}"#;

/// Longest the fuzz run may take, its own `max-time` included, before the test fails.
const FUZZ_LIMIT: Duration = Duration::from_secs(240);

/// The document as the tenant listener serves it, saved in `dir`.
async fn save_document(h: &Harness, dir: &Path) -> (PathBuf, Value) {
    let res = h.http.get(h.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let path = dir.join("openapi.json");
    std::fs::write(&path, &text).unwrap();
    (path, serde_json::from_str(&text).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_served_document_passes_openapi_spec_validator() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let h = Harness::start().await;
    let dir = temp_dir("openapi-validate");
    let (path, _) = save_document(&h, &dir).await;
    let output = run_python(
        &python,
        &["-m", "openapi_spec_validator", path.to_str().unwrap()],
        &dir,
        &[],
        Duration::from_secs(60),
    )
    .await;
    assert_success("openapi-spec-validator", &output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK"));
    std::fs::remove_dir_all(&dir).ok();
}

/// What issue 14 found wrong with the document, checked on the document itself.
#[tokio::test]
async fn the_document_says_what_the_routes_take_and_answer() {
    let h = Harness::start().await;
    let doc: Value = h
        .http
        .get(h.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &doc["paths"];
    let param = |path: &str, method: &str, name: &str| -> Value {
        paths[path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{method} {path}: no parameter {name}"))
    };
    for name in ["status", "limit", "after"] {
        let p = param("/v1/tasks", "get", name);
        assert_eq!(p["in"], "query", "{p}");
        assert_ne!(p["required"], true, "{p}");
    }
    assert_eq!(
        param("/v1/tasks", "get", "status")["schema"]["$ref"],
        "#/components/schemas/TaskStatus"
    );
    let wait = param("/v1/tasks/{id}", "get", "wait");
    assert_eq!(wait["in"], "query");
    assert_eq!(wait["schema"]["maximum"], 60);
    let key = param("/v1/tasks", "post", "Idempotency-Key");
    assert_eq!(key["in"], "header");
    assert_eq!(
        (&key["schema"]["minLength"], &key["schema"]["maxLength"]),
        (&json!(1), &json!(255))
    );

    // Every route behind the bearer key documents 401; cancel documents 400 and 404. (A
    // provider's callback carries no bearer key: its token is the credential.)
    for (path, item) in paths.as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                assert!(
                    path.starts_with("/callbacks/"),
                    "{method} {path}: no security"
                );
                continue;
            }
            assert!(
                op["responses"].get("401").is_some(),
                "{method} {path}: no 401"
            );
        }
    }
    let cancel = &paths["/v1/tasks/{id}/cancel"]["post"]["responses"];
    for status in ["400", "404", "409"] {
        assert!(cancel.get(status).is_some(), "cancel: no {status}");
    }

    // The create body: one schema per type, chosen by `type`, each with its input's schema.
    let schemas = &doc["components"]["schemas"];
    let create = &schemas["CreateTaskRequest"];
    assert_eq!(create["discriminator"]["propertyName"], "type");
    let mapping = create["discriminator"]["mapping"].as_object().unwrap();
    assert_eq!(mapping.len(), 6);
    let t2v = &schemas["CreateTextToVideo"];
    assert_eq!(t2v["properties"]["type"]["enum"], json!(["text_to_video"]));
    assert_eq!(
        t2v["properties"]["input"]["$ref"],
        "#/components/schemas/TextToVideoInput"
    );
    assert_eq!(schemas["TextToVideoInput"]["required"], json!(["prompt"]));
    assert_eq!(
        schemas["VideoToVideoInput"]["required"],
        json!(["video_url", "prompt"])
    );
    assert_eq!(
        schemas["TaskList"]["properties"]["data"]["items"]["$ref"],
        "#/components/schemas/Task"
    );

    // The error table lists 405 (and the part-2 codes), and the pass-through's answers are
    // not typed as the gateway's error shape.
    let codes = schemas["ErrorDetail"]["properties"]["code"]["description"]
        .as_str()
        .unwrap();
    for code in [
        "method_not_allowed",
        "request_timeout",
        "request_header_fields_too_large",
        "unauthorized",
    ] {
        assert!(codes.contains(code), "{code} missing from the error table");
    }
    let proxy = &paths["/proxy/{provider}/{path}"]["post"]["responses"];
    for (status, response) in proxy.as_object().unwrap() {
        assert!(
            response.get("content").is_none(),
            "pass-through {status} promises a body"
        );
    }
    // Links for the stateful run: create -> get / cancel by the created id.
    let links = &paths["/v1/tasks"]["post"]["responses"]["202"]["links"];
    assert_eq!(links["GetTask"]["operationId"], "get_task");
    assert_eq!(links["GetTask"]["parameters"]["id"], "$response.body#/id");
    assert_eq!(links["CancelTask"]["operationId"], "cancel_task");
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_failure_in_a_bounded_run() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let h = Harness::start_with(FUZZ_CONFIG, "{kind: memory}").await;
    let receiver = Receiver::default();
    let callback = receiver.start(|_, _, _| false).await;
    let pinnable = PINNABLE.to_string();
    let dir = temp_dir("openapi-fuzz");
    let schema_url = h.url("/openapi.json");
    let config = tests_python("schemathesis.toml");
    let hooks = tests_python("fuzz_hooks.py");
    let output = run_python(
        &python,
        &[
            "-m",
            "schemathesis.cli",
            "--config-file",
            &config,
            "run",
            &schema_url,
            "--url",
            &h.base,
            "--no-color",
        ],
        &dir,
        &[
            ("TASKGATE_FUZZ_KEY", KEY_A),
            ("TASKGATE_FUZZ_PROVIDERS", &pinnable),
            ("TASKGATE_FUZZ_CALLBACK", &callback),
            ("SCHEMATHESIS_HOOKS", &hooks),
        ],
        FUZZ_LIMIT,
    )
    .await;
    assert_success("schemathesis", &output);
    // The run did reach the providers, not only the gateway's refusals.
    assert!(
        h.sim.stats().creates_total() > 0,
        "the fuzz run created no task"
    );
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_python_client_creates_a_task_and_reads_it_to_succeeded() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let h = Harness::start().await;
    let dir = temp_dir("openapi-client");
    let (path, _) = save_document(&h, &dir).await;
    let package = "taskgate_client";
    let generated = dir.join(package);
    let output = run_python(
        &python,
        &[
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            path.to_str().unwrap(),
            "--output-path",
            generated.to_str().unwrap(),
            "--meta",
            "none",
            "--config",
            &tests_python("client_config.yaml"),
        ],
        &dir,
        &[],
        Duration::from_secs(120),
    )
    .await;
    assert_success("openapi-python-client generate", &output);
    for operation in ["create_task", "get_task", "list_tasks", "cancel_task"] {
        let module = generated.join(format!("api/tasks/{operation}.py"));
        assert!(module.is_file(), "the generated client has no {operation}");
    }
    let output = run_python(
        &python,
        &[
            &tests_python("client_roundtrip.py"),
            dir.to_str().unwrap(),
            package,
            &h.base,
            KEY_A,
        ],
        &dir,
        &[],
        Duration::from_secs(60),
    )
    .await;
    assert_success("the generated client's roundtrip", &output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("client roundtrip: ok"));
    std::fs::remove_dir_all(&dir).ok();
}
