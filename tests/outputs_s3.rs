//! Durable outputs into an S3-compatible bucket (moto's server on loopback, from the test
//! virtualenv): a 6 MiB output of a task lands under `<prefix>/<tenant>/<task>/`, and the
//! presigned URL the task hands out serves the provider's bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

mod common;
#[path = "../crates/outputs/tests/common/moto.rs"]
mod moto;

use std::time::{Duration, Instant};

use common::process::{temp_dir, Gateway};
use common::KEY_A;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use taskgate_config::{format_key_hash, hash_key};
use taskgate_sim::SimServer;

const CONFIG: &str = r#"
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0}
store: {kind: sqlite, path: "${DIR}/tasks.db"}
tasks: {refresh_after: 100ms, not_found_grace: 5s, watch_every: 200ms, give_up_after: 1h}
outputs:
  storage:
    kind: s3
    bucket: taskgate-outputs
    prefix: prod/media
    region: us-east-1
    endpoint: "${ENDPOINT}"
    access_key_id: ${S3_KEY_ID}
    secret_access_key: ${S3_SECRET}
  url_ttl: 10m
providers:
  makevid: {type: makevid, base_url: "${SIM}", api_key: k-makevid, timeout: 5s, retries: 0}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    routes: {text_to_video: [makevid]}
"#;

#[tokio::test]
async fn a_six_mib_output_lands_in_the_bucket_and_its_presigned_url_serves_it() {
    let Some(moto) = moto::MotoServer::start().await else {
        return;
    };
    moto.create_bucket("taskgate-outputs").await;
    let sim = SimServer::start().await.unwrap();
    let dir = temp_dir("outputs-s3");
    let config = dir.join("taskgate.yaml");
    std::fs::write(
        &config,
        CONFIG
            .replace("${DIR}", &dir.display().to_string())
            .replace("${ENDPOINT}", &moto.endpoint)
            .replace("${SIM}", &sim.base_url())
            .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A))),
    )
    .unwrap();
    let secret = "s3-secret-that-must-not-be-logged";
    let gateway = Gateway::start(
        &config,
        &[("S3_KEY_ID", "AKIDTASKGATE"), ("S3_SECRET", secret)],
        "info",
    )
    .await;
    let http = reqwest::Client::new();
    let size = 6 * 1024 * 1024;
    let created: Value = http
        .post(format!("{}/v1/tasks", gateway.base))
        .bearer_auth(KEY_A)
        .json(
            &json!({"type": "text_to_video", "input": {"prompt": "a fox",
            "extra": {"sim": {"queued_ms": 100, "run_ms": 200, "output_bytes": size}}}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let ptid = created["provider_task_id"].as_str().unwrap().to_string();
    let start = Instant::now();
    let task = loop {
        let task: Value = http
            .get(format!("{}/v1/tasks/{id}?wait=20", gateway.base))
            .bearer_auth(KEY_A)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if task["status"] == "succeeded" {
            break task;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{task}");
    };
    let output = &task["outputs"][0];
    let expected = taskgate_sim::output_bytes(&ptid, size);
    let sha = hex::encode(Sha256::digest(&expected));
    assert_eq!(output["stored"], true, "{output}");
    assert_eq!(output["sha256"], sha.as_str());
    let url = output["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "{}/taskgate-outputs/prod/media/acme/{id}/0.mp4?",
            moto.endpoint
        )),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature"), "{url}");
    let served = http.get(url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    let bytes = served.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
    assert!(
        !gateway.stderr().contains(secret),
        "the storage secret reached the log"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
