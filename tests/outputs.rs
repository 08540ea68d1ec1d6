//! Durable outputs against the real binary and the simulator (which serves each task's
//! output bytes): a success waits for its outputs to be stored in the gateway's storage,
//! the stored bytes are served (signed URLs, the tenant's key, ranges, HEAD, ETag), a copy
//! that fails reports the provider's URL, a copy cut by a SIGKILL resumes after the
//! restart, a tenant may opt out, and old copies expire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::process::{temp_dir, Gateway};
use common::{KEY_A, KEY_B};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use taskgate_config::{format_key_hash, hash_key};
use taskgate_sim::SimServer;

const CONFIG: &str = r#"
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0}
store: {kind: sqlite, path: "${DIR}/tasks.db"}
tasks: {refresh_after: 100ms, not_found_grace: 5s, watch_every: 200ms, give_up_after: 1h}
outputs:
  storage: {kind: local, path: "${DIR}/outputs"}
  url_ttl: ${URL_TTL}
  keep_for: ${KEEP_FOR}
  max_bytes: ${MAX_BYTES}
providers:
  makevid: {type: makevid, base_url: "${SIM}", api_key: k-makevid, timeout: 2s, retries: 0}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    routes: {text_to_video: [makevid]}
  beta:
    keys: ["${KEY_B_HASH}"]
    store_outputs: false
    routes: {text_to_video: [makevid]}
"#;

struct Setup {
    sim: SimServer,
    dir: PathBuf,
    config: PathBuf,
    http: reqwest::Client,
}

async fn setup(name: &str, url_ttl: &str, keep_for: &str, max_bytes: u64) -> Setup {
    let sim = SimServer::start().await.unwrap();
    let dir = temp_dir(name);
    let config = dir.join("taskgate.yaml");
    std::fs::write(
        &config,
        CONFIG
            .replace("${DIR}", &dir.display().to_string())
            .replace("${KEEP_FOR}", keep_for)
            .replace("${URL_TTL}", url_ttl)
            .replace("${MAX_BYTES}", &max_bytes.to_string())
            .replace("${SIM}", &sim.base_url())
            .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A)))
            .replace("${KEY_B_HASH}", &format_key_hash(&hash_key(KEY_B))),
    )
    .unwrap();
    Setup {
        sim,
        dir,
        config,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn create(&self, gateway: &Gateway, key: &str, sim: Value) -> Value {
        let res = self
            .http
            .post(format!("{}/v1/tasks", gateway.base))
            .bearer_auth(key)
            .json(&json!({"type": "text_to_video",
                          "input": {"prompt": "a fox", "extra": {"sim": sim}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        res.json().await.unwrap()
    }

    async fn task(&self, gateway: &Gateway, key: &str, id: &str) -> Value {
        self.http
            .get(format!("{}/v1/tasks/{id}", gateway.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Long-polls until the task is finished.
    async fn finished(&self, gateway: &Gateway, key: &str, id: &str) -> Value {
        let start = Instant::now();
        loop {
            let task: Value = self
                .http
                .get(format!("{}/v1/tasks/{id}?wait=20", gateway.base))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if matches!(
                task["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            ) {
                return task;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "never finished: {task}; gateway log:\n{}",
                gateway.stderr()
            );
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn stored_files(dir: &Path) -> usize {
    fn walk(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let path = e.path();
                        if path.is_dir() {
                            walk(&path)
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&dir.join("outputs"))
}

#[tokio::test]
async fn a_success_is_reported_once_its_outputs_are_stored_and_they_are_served() {
    let s = setup("outputs-served", "1h", "30d", 1 << 30).await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    let size = 3 * 1024 * 1024 + 17;
    let created = s
        .create(
            &gateway,
            KEY_A,
            json!({"queued_ms": 100, "run_ms": 300, "output_bytes": size}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let ptid = created["provider_task_id"].as_str().unwrap();
    let task = s.finished(&gateway, KEY_A, id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let output = &task["outputs"][0];
    let expected = taskgate_sim::output_bytes(ptid, size);
    assert_eq!(output["stored"], true, "{output}");
    assert_eq!(output["size_bytes"], size as u64);
    assert_eq!(output["sha256"], sha256_hex(&expected));
    assert_eq!(output["content_type"], "video/mp4");
    assert!(output["provider_url"]
        .as_str()
        .unwrap()
        .starts_with(&s.sim.base_url()));
    assert!(output["expires_at"].is_string());
    let url = output["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/v1/files/{id}/0?expires=", gateway.base)),
        "{url}"
    );

    // The signed URL works without a key, as a browser would fetch it.
    let res = s.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "video/mp4");
    assert_eq!(res.headers()["accept-ranges"], "bytes");
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&expected)));
    assert_eq!(res.bytes().await.unwrap().as_ref(), expected.as_slice());
    // Ranges, as a video player seeks.
    let res = s
        .http
        .get(url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &expected[100..200]);
    let res = s
        .http
        .get(url)
        .header("range", "bytes=1048576-1048675")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes 1048576-1048675/{size}").as_str()
    );
    assert_eq!(res.headers()["content-length"], "100");
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        &expected[1048576..1048676]
    );
    let res = s
        .http
        .get(url)
        .header("range", format!("bytes={}-", size + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 416);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );
    // HEAD: the headers, no body.
    let res = s.http.head(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], size.to_string().as_str());
    assert!(res.bytes().await.unwrap().is_empty());
    // If-None-Match with the ETag.
    let res = s
        .http
        .get(url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);

    // A tampered signature, index or expiry is 403; no signature and no key is 401.
    let files = format!("{}/v1/files/{id}/0", gateway.base);
    let query = url.split_once('?').unwrap().1;
    let expires: u64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    let sig = query
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .unwrap();
    for bad in [
        format!("{files}?expires={}&sig={sig}", expires + 1),
        format!("{files}?expires={expires}&sig=AAAA{sig}"),
        format!(
            "{}/v1/files/{id}/1?expires={expires}&sig={sig}",
            gateway.base
        ),
        format!("{files}?expires={expires}"),
    ] {
        let res = s.http.get(&bad).send().await.unwrap();
        assert_eq!(res.status(), 403, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden");
    }
    assert_eq!(s.http.get(&files).send().await.unwrap().status(), 401);
    // The tenant's own key works; another tenant's does not reach it.
    let res = s.http.get(&files).bearer_auth(KEY_A).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), size);
    let res = s.http.get(&files).bearer_auth(KEY_B).send().await.unwrap();
    assert_eq!(res.status(), 404);

    // Copied once; the provider's URL is not fetched again by reads.
    assert_eq!(s.sim.stats().output_gets_total(), 1);
    let again = s.task(&gateway, KEY_A, id).await;
    assert_eq!(again["outputs"][0]["sha256"], output["sha256"]);
    assert_eq!(s.sim.stats().output_gets_total(), 1);
    assert_eq!(stored_files(&s.dir), 1);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn copies_that_fail_for_good_report_the_providers_url_and_why() {
    let s = setup("outputs-failed", "1h", "30d", 100_000).await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    // The provider's file is gone.
    let gone = s
        .create(
            &gateway,
            KEY_A,
            json!({"queued_ms": 100, "run_ms": 200, "output_status": 404}),
        )
        .await;
    // Larger than outputs.max_bytes.
    let big = s
        .create(
            &gateway,
            KEY_A,
            json!({"queued_ms": 100, "run_ms": 200, "output_bytes": 200_000}),
        )
        .await;
    // Fails twice (503), then is served: retried like a poll.
    let flaky = s
        .create(
            &gateway,
            KEY_A,
            json!({"queued_ms": 100, "run_ms": 200, "output_fail_times": 2}),
        )
        .await;
    for (created, needle) in [(&gone, "404"), (&big, "max_bytes")] {
        let id = created["id"].as_str().unwrap();
        let task = s.finished(&gateway, KEY_A, id).await;
        assert_eq!(task["status"], "succeeded", "{task}");
        let output = &task["outputs"][0];
        assert_eq!(output["stored"], false, "{output}");
        assert_eq!(output["url"], output["provider_url"]);
        let error = output["copy_error"].as_str().unwrap();
        assert!(error.contains(needle), "{error}");
    }
    let id = flaky["id"].as_str().unwrap();
    let task = s.finished(&gateway, KEY_A, id).await;
    assert_eq!(task["outputs"][0]["stored"], true, "{task}");
    let ptid = flaky["provider_task_id"].as_str().unwrap();
    assert_eq!(s.sim.task(ptid).unwrap().output_gets, 3);
    assert_eq!(stored_files(&s.dir), 1, "nothing left of the failed copies");
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn a_copy_cut_by_a_sigkill_resumes_after_the_restart_and_the_success_waits_for_it() {
    let s = setup("outputs-sigkill", "1h", "30d", 1 << 30).await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    // About 3 s to download: 48 chunks of 64 KiB, 60 ms apart.
    let size = 48 * 64 * 1024;
    let created = s
        .create(
            &gateway,
            KEY_A,
            json!({"queued_ms": 100, "run_ms": 200, "output_bytes": size,
                   "output_chunk_delay_ms": 60}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let ptid = created["provider_task_id"].as_str().unwrap().to_string();
    let start = Instant::now();
    while s.sim.stats().output_gets_total() == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "no copy started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The provider says succeeded; the gateway does not, while the copy runs.
    let during = s.task(&gateway, KEY_A, &id).await;
    assert_eq!(during["status"], "running", "{during}");
    assert!(during["outputs"].as_array().unwrap().is_empty());
    drop(gateway);

    let gateway = Gateway::start(&s.config, &[], "info").await;
    let task = s.finished(&gateway, KEY_A, &id).await;
    assert_eq!(task["status"], "succeeded");
    let output = &task["outputs"][0];
    assert_eq!(output["stored"], true, "{task}");
    assert_eq!(
        output["sha256"],
        sha256_hex(&taskgate_sim::output_bytes(&ptid, size))
    );
    let record = s.sim.task(&ptid).unwrap();
    assert!(record.output_gets >= 2, "copied again");
    assert_eq!(record.outputs_completed, 1, "the first copy was cut off");
    let res = s
        .http
        .get(output["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().len(), size);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn a_tenant_that_opted_out_gets_the_providers_urls() {
    let s = setup("outputs-optout", "1h", "30d", 1 << 30).await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    let created = s
        .create(&gateway, KEY_B, json!({"queued_ms": 100, "run_ms": 200}))
        .await;
    let task = s
        .finished(&gateway, KEY_B, created["id"].as_str().unwrap())
        .await;
    let output = &task["outputs"][0];
    assert!(output.get("stored").is_none(), "{output}");
    assert!(output["url"]
        .as_str()
        .unwrap()
        .starts_with(&s.sim.base_url()));
    assert_eq!(s.sim.stats().output_gets_total(), 0);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn copies_older_than_keep_for_expire_and_are_deleted() {
    let s = setup("outputs-expire", "1h", "2s", 1 << 30).await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    let created = s
        .create(&gateway, KEY_A, json!({"queued_ms": 100, "run_ms": 200}))
        .await;
    let id = created["id"].as_str().unwrap();
    let task = s.finished(&gateway, KEY_A, id).await;
    let url = task["outputs"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(task["outputs"][0]["stored"], true, "{task}");
    let finished_at = chrono::DateTime::parse_from_rfc3339(task["finished_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    // Past keep_for (counted from the task's end).
    let wait = (finished_at + chrono::Duration::milliseconds(2100) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    let later = s.task(&gateway, KEY_A, id).await;
    let output = &later["outputs"][0];
    assert_eq!(output["expired"], true, "{output}");
    assert!(output.get("url").is_none(), "{output}");
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 404);
    // The retention loop deletes the object (it runs every keep_for / 4, at least 1 s).
    let start = Instant::now();
    while stored_files(&s.dir) != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the old copy stays"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// The gateway's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn copying_a_gibibyte_output_raises_peak_memory_by_a_few_mib_at_most() {
    let s = setup("outputs-memory", "1h", "30d", 2 << 30).await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    // A first small copy warms up everything a copy touches (client, pools, allocator).
    let warm = s
        .create(
            &gateway,
            KEY_A,
            json!({"queued_ms": 50, "run_ms": 100, "output_bytes": 64 << 20}),
        )
        .await;
    s.finished(&gateway, KEY_A, warm["id"].as_str().unwrap())
        .await;
    let before = peak_rss_kib(gateway.pid());
    let size: usize = 1 << 30;
    let big = s
        .create(
            &gateway,
            KEY_A,
            json!({"queued_ms": 50, "run_ms": 100, "output_bytes": size}),
        )
        .await;
    let task = s
        .finished(&gateway, KEY_A, big["id"].as_str().unwrap())
        .await;
    assert_eq!(task["outputs"][0]["stored"], true, "{task}");
    assert_eq!(task["outputs"][0]["size_bytes"], size as u64);
    let after = peak_rss_kib(gateway.pid());
    let grew_mib = after.saturating_sub(before) as f64 / 1024.0;
    println!(
        "peak RSS {:.1} MiB before, {:.1} MiB after copying 1 GiB: +{grew_mib:.1} MiB",
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    assert!(
        grew_mib < 16.0,
        "a 1 GiB copy raised peak RSS by {grew_mib:.1} MiB"
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn an_expired_url_is_refused_and_a_new_read_gives_a_fresh_one() {
    let s = setup("outputs-ttl", "1s", "30d", 1 << 30).await;
    let gateway = Gateway::start(&s.config, &[], "info").await;
    let created = s
        .create(&gateway, KEY_A, json!({"queued_ms": 50, "run_ms": 100}))
        .await;
    let id = created["id"].as_str().unwrap();
    let task = s.finished(&gateway, KEY_A, id).await;
    let url = task["outputs"][0]["url"].as_str().unwrap().to_string();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(task["outputs"][0]["expires_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
    // Signatures count whole seconds: wait until the second after `expires` has begun.
    let wait = (expires_at + chrono::Duration::milliseconds(1100) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    let res = s.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    let again = s.task(&gateway, KEY_A, id).await;
    let fresh = again["outputs"][0]["url"].as_str().unwrap();
    assert_ne!(fresh, url);
    assert_eq!(s.http.get(fresh).send().await.unwrap().status(), 200);
    let _ = std::fs::remove_dir_all(&s.dir);
}
