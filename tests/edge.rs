//! The HTTP edge against the real gateway on loopback, over raw TCP so no client library
//! tidies the request: a client that stalls mid-body (408), too many or too large headers
//! (431), hyper's own ceilings past those, and JSON bodies with a duplicated key (400).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use taskgate_sim::{FaultKind, FaultRule, Op, Provider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The body bound of these tests; the whole-request bound stays 10 s.
const BODY_READ: Duration = Duration::from_secs(1);
/// Must match `taskgate::connections::READ_BUFFER`.
const HYPER_READ_BUFFER: usize = 8192 + 4096 * 100;

/// The shared test config with a 1 s body bound, and `touchy` and `hasty`: providers on the
/// simulator whose circuit opens on the first failure it counts; `hasty` gives up after
/// 300 ms, well within the body bound.
fn config() -> String {
    CONFIG
        .replace(
            "  request_timeout: 10s",
            "  request_timeout: 10s\n  body_read_timeout: 1s",
        )
        .replace(
            "  slow: {",
            "  touchy: {type: makevid, base_url: \"${SIM}\", api_key: provider-key-touchy, retries: 0, circuit: {min_calls: 1, error_ratio: 0.5, window: 60s, open_for: 60s}}\n  \
             hasty: {type: makevid, base_url: \"${SIM}\", api_key: provider-key-hasty, retries: 0, timeout: 300ms, circuit: {min_calls: 1, error_ratio: 0.5, window: 60s, open_for: 60s}}\n  \
             slow: {",
        )
        .replace(
            "      makevid: acme-own-makevid-key",
            "      makevid: acme-own-makevid-key\n      touchy: acme-touchy-key\n      hasty: acme-hasty-key",
        )
}

async fn harness() -> Harness {
    Harness::start_with(&config(), "{kind: memory}").await
}

/// An answer as it came off the socket.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the contract's error shape with `x-request-id` and returns the body.
    fn expect_error(&self, status: u16, code: &str) -> Value {
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        });
        assert_eq!(self.status, status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        let id = self.header("x-request-id").expect("x-request-id");
        assert_eq!(body["error"]["request_id"], id, "{body}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{body}"
        );
        body
    }
}

/// Reads one answer: its head, then as many body bytes as `content-length` says.
async fn read_answer(tcp: &mut TcpStream) -> Answer {
    let mut data = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let read = async {
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_string();
                let mut lines = head.lines();
                let status = lines.next().unwrap().split(' ').nth(1).unwrap();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                while data.len() < end + 4 + length {
                    let n = tcp.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "closed mid-body");
                    data.extend_from_slice(&chunk[..n]);
                }
                return Answer {
                    status: status.parse().unwrap(),
                    headers,
                    body: data[end + 4..end + 4 + length].to_vec(),
                };
            }
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "closed before an answer: {}",
                String::from_utf8_lossy(&data)
            );
            data.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read)
        .await
        .expect("an answer within 15 s")
}

/// Whether the gateway closed the connection (after its answer).
async fn closed(tcp: &mut TcpStream) -> bool {
    let mut rest = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut rest)).await,
        Ok(Ok(0))
    )
}

async fn connect(h: &Harness) -> TcpStream {
    TcpStream::connect(h.gateway.tenant_addr).await.unwrap()
}

/// Sends `head` and the first part of `body`, then nothing more; returns the answer and
/// how long after the last byte it came.
async fn stall_mid_body(h: &Harness, head: &str, body_start: &[u8]) -> (Answer, Duration) {
    let mut tcp = connect(h).await;
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body_start).await.unwrap();
    let stalled = Instant::now();
    let answer = read_answer(&mut tcp).await;
    let waited = stalled.elapsed();
    assert!(
        closed(&mut tcp).await,
        "the connection is closed after a 408"
    );
    (answer, waited)
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_gets_408_within_the_body_bound_and_no_upstream_call() {
    let h = harness().await;
    let body = serde_json::to_vec(&text_to_video()).unwrap();
    let sized = format!(
        "POST /v1/tasks HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {KEY_A}\r\ncontent-type: application/json\r\nx-request-id: stall-1\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let chunked = format!(
        "POST /v1/tasks HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {KEY_A}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let first_chunk = format!("{:x}\r\n{}\r\n", 20, String::from_utf8_lossy(&body[..20]));
    for (head, start) in [(sized, &body[..20]), (chunked, first_chunk.as_bytes())] {
        let (answer, waited) = stall_mid_body(&h, &head, start).await;
        let error = answer.expect_error(408, "request_timeout");
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(
            waited >= BODY_READ && waited < Duration::from_secs(5),
            "answered {waited:?} after the stall; the body bound is {BODY_READ:?}, the request's 10s"
        );
        if head.contains("stall-1") {
            assert_eq!(error["error"]["request_id"], "stall-1");
        }
    }
    let stats = h.sim.stats();
    assert_eq!(
        stats.creates_total() + stats.rejected_total(),
        0,
        "no upstream call"
    );
}

#[tokio::test]
async fn a_slow_upload_that_keeps_moving_is_not_cut() {
    let h = harness().await;
    let body = serde_json::to_vec(&text_to_video()).unwrap();
    let mut tcp = connect(&h).await;
    let head = format!(
        "POST /v1/tasks HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {KEY_A}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // Six pieces 500 ms apart: three times the body bound in all, never idle for one.
    let piece = body.len().div_ceil(6);
    for part in body.chunks(piece) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tcp.write_all(part).await.unwrap();
    }
    let answer = read_answer(&mut tcp).await;
    assert!(started.elapsed() >= 3 * BODY_READ);
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(h.sim.stats().creates_total(), 1);
}

#[tokio::test]
async fn a_stalled_pass_through_upload_is_408_and_the_providers_circuit_is_untouched() {
    let h = harness().await;
    let body = br#"{"text_prompt": "a red fox", "model": "gen3a_turbo"}"#;
    let head = format!(
        "POST /proxy/touchy/api/v1/create_runway HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {KEY_A}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    // One failure counted would open `touchy`'s circuit; two stalls count none.
    for _ in 0..2 {
        let (answer, waited) = stall_mid_body(&h, &head, &body[..10]).await;
        answer.expect_error(408, "request_timeout");
        assert!(
            waited >= BODY_READ && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }
    assert_eq!(
        h.sim.stats().creates_total(),
        0,
        "the provider never got a whole body"
    );
    assert_eq!(health(&h, "touchy").await, "healthy");
    let res = h.get(KEY_A, "/proxy/touchy/_sim/echo").await;
    assert_eq!(res.status(), 200, "the circuit admits calls");
}

async fn health(h: &Harness, provider: &str) -> String {
    let providers: Value = h.get(KEY_A, "/v1/providers").await.json().await.unwrap();
    let entry = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == provider)
        .unwrap();
    entry["health"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_provider_timeout_that_runs_out_while_the_client_stalls_is_the_clients_408() {
    let h = harness().await;
    let body = br#"{"text_prompt": "a red fox", "model": "gen3a_turbo"}"#;
    let head = format!(
        "POST /proxy/hasty/api/v1/create_runway HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {KEY_A}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    for _ in 0..2 {
        let (answer, waited) = stall_mid_body(&h, &head, &body[..10]).await;
        answer.expect_error(408, "request_timeout");
        assert!(
            waited < BODY_READ,
            "the provider's 300 ms ran out first: {waited:?}"
        );
    }
    assert_eq!(health(&h, "hasty").await, "healthy");
    // The control: the provider's own timeouts are failures. The stalls went in as calls it
    // handled (as rejections do), so two timeouts make the half that opens the circuit.
    h.sim.push_fault(FaultRule::on(
        Provider::Makevid,
        Op::Poll,
        FaultKind::Latency { ms: 1000 },
    ));
    for _ in 0..2 {
        let res = h.get(KEY_A, "/proxy/hasty/api/v1/get_runway/abc").await;
        expect_error(res, 504, "upstream_timeout").await;
    }
    assert_eq!(health(&h, "hasty").await, "unhealthy");
}

/// A GET of `/v1/providers` as acme with `extra` header lines added.
fn get_with_headers(extra: &[String]) -> String {
    let mut request =
        format!("GET /v1/providers HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {KEY_A}\r\n");
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

async fn send(h: &Harness, request: &[u8]) -> (Answer, TcpStream) {
    let mut tcp = connect(h).await;
    tcp.write_all(request).await.unwrap();
    let answer = read_answer(&mut tcp).await;
    (answer, tcp)
}

#[tokio::test]
async fn too_many_headers_get_a_shaped_431_and_the_limit_itself_passes() {
    let h = harness().await;
    // host + authorization + 98 = the default limit of 100 fields.
    let at_limit: Vec<String> = (0..98).map(|i| format!("x-h{i}: {i}")).collect();
    let (answer, _) = send(&h, get_with_headers(&at_limit).as_bytes()).await;
    assert_eq!(answer.status, 200);
    let one_more: Vec<String> = (0..99).map(|i| format!("x-h{i}: {i}")).collect();
    let (answer, _) = send(&h, get_with_headers(&one_more).as_bytes()).await;
    answer.expect_error(431, "request_header_fields_too_large");

    let mut many: Vec<String> = (0..147).map(|i| format!("x-h{i}: {i}")).collect();
    many.push("x-request-id: many-headers".into());
    let (answer, mut tcp) = send(&h, get_with_headers(&many).as_bytes()).await;
    let error = answer.expect_error(431, "request_header_fields_too_large");
    assert_eq!(error["error"]["request_id"], "many-headers");
    // The head was read whole, so the connection stays usable.
    tcp.write_all(get_with_headers(&[]).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_answer(&mut tcp).await.status, 200);
}

#[tokio::test]
async fn one_64_kib_header_gets_a_shaped_431() {
    let h = harness().await;
    let big = format!("x-big: {}", "a".repeat(64 * 1024));
    let (answer, _) = send(&h, get_with_headers(&[big]).as_bytes()).await;
    answer.expect_error(431, "request_header_fields_too_large");
    // Just under the default 32 KiB in all passes.
    let fits = format!("x-big: {}", "a".repeat(30 * 1024));
    let (answer, _) = send(&h, get_with_headers(&[fits]).as_bytes()).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn past_hypers_own_ceilings_the_answer_is_hypers_bare_431() {
    let h = harness().await;
    // hyper's HTTP/1 parser has room for twice the limit (200); 400 short fields fill it.
    let flood: Vec<String> = (0..400).map(|i| format!("h{i}:1")).collect();
    let (answer, mut tcp) = send(&h, get_with_headers(&flood).as_bytes()).await;
    assert_eq!(answer.status, 431);
    assert_eq!(answer.header("x-request-id"), None, "hyper's own answer");
    assert!(answer.body.is_empty());
    assert!(closed(&mut tcp).await);
    // A head that fills hyper's read buffer and is still not over: exactly the buffer, so
    // the gateway has read every byte sent when it answers (no reset loses the answer).
    let mut head = get_with_headers(&[]).into_bytes();
    head.truncate(head.len() - 2);
    // Few long fields, so the parser's field slots are not what runs out.
    let filler = format!("x-fill: {}\r\n", "b".repeat(100_000));
    while head.len() + filler.len() < HYPER_READ_BUFFER {
        head.extend_from_slice(filler.as_bytes());
    }
    head.resize(HYPER_READ_BUFFER, b'c');
    let (answer, mut tcp) = send(&h, &head).await;
    assert_eq!(answer.status, 431);
    assert_eq!(answer.header("x-request-id"), None);
    assert!(answer.body.is_empty());
    assert!(closed(&mut tcp).await);
}

#[tokio::test]
async fn http2_is_served_with_the_same_limits() {
    let h = harness().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = h2
        .get(h.url("/v1/providers"))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 200);
    let mut request = h2.get(h.url("/v1/providers")).bearer_auth(KEY_A);
    for i in 0..150 {
        request = request.header(format!("x-h{i}"), i.to_string());
    }
    let res = request.send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    expect_error(res, 431, "request_header_fields_too_large").await;
    let res = h2
        .get(h.url("/v1/providers"))
        .bearer_auth(KEY_A)
        .header("x-big", "a".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    expect_error(res, 431, "request_header_fields_too_large").await;
}

async fn post_text(h: &Harness, text: &str) -> reqwest::Response {
    h.http
        .post(h.url("/v1/tasks"))
        .bearer_auth(KEY_A)
        .header("content-type", "application/json")
        .body(text.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_json_body_with_a_duplicated_key_is_400_naming_it() {
    let h = harness().await;
    let cases = [
        (
            r#"{"type":"upscale","type":"text_to_video","input":{"prompt":"a fox"}}"#,
            "type",
        ),
        (
            r#"{"type":"text_to_video","input":{"prompt":"a fox","prompt":"a cat"}}"#,
            "input.prompt",
        ),
        (
            r#"{"type":"text_to_video","input":{"prompt":"a fox","extra":{"seed":1,"seed":2}}}"#,
            "input.extra.seed",
        ),
        (
            r#"{"type":"text_to_video","input":{"prompt":"a fox"},"metadata":{"order":"1","order":"2"}}"#,
            "metadata.order",
        ),
    ];
    for (text, path) in cases {
        let error = expect_error(post_text(&h, text).await, 400, "invalid_request").await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("key {path} more than once")),
            "{text}: {message}"
        );
    }
    assert_eq!(h.sim.stats().creates_total(), 0);
    let fine = json!({
        "type": "text_to_video",
        "input": {"prompt": "a fox", "extra": {"seed": 1}},
        "metadata": {"order": "1", "nested": {"order": "2"}}
    });
    let res = post_text(&h, &fine.to_string()).await;
    assert_eq!(res.status(), 202);
    assert_eq!(h.sim.stats().creates_total(), 1);
}
