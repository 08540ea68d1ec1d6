//! The pass-through, `ANY /proxy/{provider}/{*path}`: bodies streamed both ways, the
//! tenant's upstream key put in, hop-by-hop headers stopped, and the gateway's own limits,
//! circuits and errors around it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use taskgate_sim::{FaultKind, FaultRule, Op, Provider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY_LIMIT: usize = 9 * 1024 * 1024;

/// The shared test config with a 9 MiB body limit, a provider with a tiny rate budget and
/// one that is down with a circuit that opens after two failures.
fn config() -> String {
    CONFIG
        .replace("max_body_bytes: 16384", &format!("max_body_bytes: {BODY_LIMIT}"))
        .replace(
            "  slow: {",
            "  tight: {type: makevid, base_url: \"${SIM}\", api_key: provider-key-tight, retries: 0, limit_wait: 10ms, rate_limit: {per_minute: 2, burst: 2}}\n  \
             fragile: {type: makevid, base_url: \"http://127.0.0.1:1\", api_key: provider-key-fragile, retries: 0, circuit: {min_calls: 2, error_ratio: 0.5, window: 30s, open_for: 60s}}\n  \
             slow: {",
        )
        .replace(
            "      makevid: acme-own-makevid-key",
            "      makevid: acme-own-makevid-key\n      tight: acme-tight-key\n      fragile: acme-fragile-key\n      slow: acme-slow-key",
        )
}

async fn harness() -> Harness {
    Harness::start_with(&config(), "{kind: memory}").await
}

/// The headers the simulator's echo route saw, by lowercase name.
fn seen_upstream(res: &reqwest::Response) -> BTreeMap<String, Vec<String>> {
    let text = res.headers()["x-sim-echo-headers"].to_str().unwrap();
    serde_json::from_str(text).unwrap()
}

/// A deterministic body of `len` bytes, sent in 64 KiB chunks with no Content-Length.
fn chunked_body(len: usize) -> (reqwest::Body, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    (
        reqwest::Body::wrap_stream(futures::stream::iter(chunks)),
        data,
    )
}

#[tokio::test]
async fn a_large_streamed_body_goes_through_with_the_tenants_upstream_key() {
    let h = harness().await;
    let (body, sent) = chunked_body(8 * 1024 * 1024);
    let res = h
        .http
        .post(h.url("/proxy/makevid/_sim/echo?page=2&q=a%20b"))
        .bearer_auth(KEY_A)
        .header("content-type", "application/octet-stream")
        .header("x-client-trace", "t-1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-sim-echo-method"], "POST");
    assert_eq!(res.headers()["x-sim-echo-uri"], "/_sim/echo?page=2&q=a%20b");
    assert!(res.headers().contains_key("x-request-id"));
    assert!(
        !res.headers().contains_key("x-sim-hop"),
        "named in Connection"
    );
    assert!(!res.headers().contains_key("proxy-authenticate"));
    let upstream = seen_upstream(&res);
    assert_eq!(
        upstream["authorization"],
        ["Bearer acme-own-makevid-key"],
        "the tenant's key never leaves; its upstream key goes instead"
    );
    assert_eq!(upstream["x-client-trace"], ["t-1"]);
    assert_eq!(upstream["content-type"], ["application/octet-stream"]);
    assert!(upstream.contains_key("x-request-id"));
    let got = res.bytes().await.unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "the body came back unchanged");
}

/// Sends `request` as written (raw HTTP/1.1 with `Connection: close`, so nothing between
/// the test and the gateway tidies it) and returns the answer's status line and headers.
async fn raw(h: &Harness, request: &str) -> (String, Vec<(String, String)>) {
    let mut tcp = tokio::net::TcpStream::connect(h.gateway.tenant_addr)
        .await
        .unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, _) = answer.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

#[tokio::test]
async fn hop_by_hop_headers_stop_at_the_gateway() {
    let h = harness().await;
    let request = format!(
        "PUT /proxy/makevid/_sim/echo HTTP/1.1\r\nHost: gateway.test\r\n\
         Authorization: Bearer {KEY_A}\r\nConnection: close, X-Hop\r\nX-Hop: hop-value\r\n\
         Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\
         Proxy-Connection: keep-alive\r\nX-End-To-End: kept\r\nContent-Length: 5\r\n\r\nhello"
    );
    let (status, headers) = raw(&h, &request).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let echoed = &headers
        .iter()
        .find(|(n, _)| n == "x-sim-echo-headers")
        .unwrap()
        .1;
    let upstream: BTreeMap<String, Vec<String>> = serde_json::from_str(echoed).unwrap();
    for hop in [
        "connection",
        "keep-alive",
        "te",
        "x-hop",
        "proxy-authorization",
        "proxy-connection",
    ] {
        assert!(!upstream.contains_key(hop), "{hop} reached the provider");
    }
    assert_eq!(upstream["host"].len(), 1);
    assert_ne!(
        upstream["host"][0], "gateway.test",
        "Host is the provider's"
    );
    assert_eq!(upstream["x-end-to-end"], ["kept"]);
    assert_eq!(upstream["authorization"], ["Bearer acme-own-makevid-key"]);
    assert_eq!(upstream["content-length"], ["5"]);
    assert!(!headers.iter().any(|(n, _)| n == "x-sim-hop"));
    assert!(!headers.iter().any(|(n, _)| n == "proxy-authenticate"));
    assert!(
        !headers
            .iter()
            .any(|(n, v)| n == "connection" && v.contains("x-sim-hop")),
        "{headers:?}"
    );
}

#[tokio::test]
async fn a_get_of_a_provider_poll_route_answers_the_providers_json() {
    let h = harness().await;
    let task = h.create(text_to_video()).await;
    assert_eq!(task["provider"], "makevid");
    let id = task["provider_task_id"].as_str().unwrap();
    let res = h
        .get(KEY_A, &format!("/proxy/makevid/api/v1/get_runway/{id}"))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["task"]["id"], id, "{body}");
    assert!(body["task"]["status"].is_string(), "{body}");
    // The provider's own errors come back as they are, not in the gateway's shape.
    let res = h.get(KEY_A, "/proxy/makevid/api/v1/no_such_thing").await;
    assert_eq!(res.status(), 404);
    let text = res.text().await.unwrap();
    assert!(!text.contains("request_id"), "{text}");
}

#[tokio::test]
async fn providers_the_tenant_may_not_use_or_that_do_not_exist_are_not_found() {
    let h = harness().await;
    // beta's routes name makevid only.
    let res = h.get(KEY_B, "/proxy/runway/v1/tasks/x").await;
    expect_error(res, 404, "not_found").await;
    let res = h.get(KEY_A, "/proxy/nonexistent/x").await;
    expect_error(res, 404, "not_found").await;
    // Dot segments could climb above the provider's base URL: refused (sent raw, as
    // client libraries would normalize them away).
    for path in [
        "/proxy/makevid/a/../../_sim/stats",
        "/proxy/makevid/%2e%2e/x",
    ] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {KEY_A}\r\nConnection: close\r\n\r\n"
        );
        let (status, _) = raw(&h, &request).await;
        assert!(status.starts_with("HTTP/1.1 400"), "{path}: {status}");
    }
    let res = h
        .http
        .get(h.url("/proxy/makevid/_sim/echo"))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let h = harness().await;
    let res = h
        .http
        .post(h.url("/proxy/makevid/_sim/echo"))
        .bearer_auth(KEY_A)
        .body(vec![0u8; BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    expect_error(res, 413, "payload_too_large").await;
    // Without a Content-Length, the stream is cut at the limit: the provider never gets
    // more than the limit, and the client sees the exchange fail.
    let (body, _) = chunked_body(BODY_LIMIT + 512 * 1024);
    let outcome = async {
        let res = h
            .http
            .post(h.url("/proxy/makevid/_sim/echo"))
            .bearer_auth(KEY_A)
            .body(body)
            .send()
            .await?;
        let status = res.status().as_u16();
        res.bytes().await.map(|b| (status, b.len()))
    }
    .await;
    match outcome {
        Err(_) => {}
        Ok((413, _)) => {}
        Ok((status, len)) => panic!("{status} with {len} bytes: the limit did not hold"),
    }
}

#[tokio::test]
async fn the_providers_budget_and_circuit_apply() {
    let h = harness().await;
    for _ in 0..2 {
        let res = h.get(KEY_A, "/proxy/tight/_sim/echo").await;
        assert_eq!(res.status(), 200);
    }
    let res = h.get(KEY_A, "/proxy/tight/_sim/echo").await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    expect_error(res, 429, "rate_limited").await;

    for _ in 0..2 {
        let res = h.get(KEY_A, "/proxy/fragile/anything").await;
        expect_error(res, 502, "upstream_error").await;
    }
    let res = h.get(KEY_A, "/proxy/fragile/anything").await;
    expect_error(res, 503, "unavailable").await;
}

#[tokio::test]
async fn a_provider_slower_than_its_timeout_is_a_gateway_timeout() {
    let h = harness().await;
    h.sim.push_fault(FaultRule::on(
        Provider::Makevid,
        Op::Poll,
        FaultKind::Latency { ms: 1500 },
    ));
    // `slow` (timeout 500ms) points at the simulator; this is makevid's poll route, which a
    // runway-type provider reaches only on the tenant's own key.
    let res = h.get(KEY_A, "/proxy/slow/api/v1/get_runway/abc").await;
    expect_error(res, 504, "upstream_timeout").await;
}

/// The peak resident memory of a process, in bytes (Linux).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_binary_streams_a_body_far_larger_than_its_memory_growth() {
    use common::process::{temp_dir, write_atomically, Gateway as Process};
    use futures::StreamExt;
    use taskgate_config::{format_key_hash, hash_key};

    const SIZE: usize = 128 * 1024 * 1024;
    let sim = taskgate_sim::SimServer::start().await.unwrap();
    let dir = temp_dir("stream");
    let text = CONFIG
        .replace("max_body_bytes: 16384", "max_body_bytes: 1073741824")
        .replace(
            "api_key: provider-key-makevid, timeout: 2s",
            "api_key: provider-key-makevid, timeout: 60s",
        )
        .replace("${STORE}", "{kind: memory}")
        .replace("${SIM}", &sim.base_url())
        .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A)))
        .replace("${KEY_B_HASH}", &format_key_hash(&hash_key(KEY_B)));
    let path = dir.join("taskgate.yaml");
    write_atomically(&path, &text);
    let gateway = Process::start(&path, &[], "info").await;
    let before = peak_rss(gateway.pid());

    let chunk = Bytes::from(vec![42u8; 256 * 1024]);
    let chunks = futures::stream::iter(
        (0..SIZE / chunk.len()).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    let started = std::time::Instant::now();
    let res = reqwest::Client::new()
        .post(format!("{}/proxy/makevid/_sim/echo", gateway.base))
        .bearer_auth(KEY_A)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut received = 0usize;
    let mut stream = res.bytes_stream();
    while let Some(piece) = stream.next().await {
        received += piece.unwrap().len();
    }
    let took = started.elapsed();
    assert_eq!(received, SIZE);
    let growth = peak_rss(gateway.pid()).saturating_sub(before);
    eprintln!(
        "{} MiB through the gateway and back in {took:?} ({:.0} MiB/s each way); peak RSS grew {:.1} MiB",
        SIZE >> 20,
        (SIZE >> 20) as f64 / took.as_secs_f64(),
        growth as f64 / 1048576.0
    );
    assert!(
        growth < 32 * 1024 * 1024,
        "the gateway's memory grew {growth} bytes for a {SIZE}-byte body"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
