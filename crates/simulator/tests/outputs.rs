//! The files a succeeded task's polls name, served by the simulator: content, size,
//! headers, per-task steering (`output_*` in `sim`), counters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{sim, timed, Sim};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use taskgate_sim::{
    fill_output_bytes, output_bytes, preview_bytes, router, Outcome, SimConfig, SimState, Stats,
    PREVIEW_BYTES,
};
use tokio::net::TcpListener;

/// An answer with its body as bytes.
struct Download {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Download {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn fetch(http: &reqwest::Client, method: Method, url: &str) -> Download {
    // Output files need no key: send none.
    let resp = http.request(method, url).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap().to_vec();
    Download {
        status,
        headers,
        body,
    }
}

async fn get(s: &Sim, url: &str) -> Download {
    fetch(&s.http, Method::GET, url).await
}

async fn head(s: &Sim, url: &str) -> Download {
    fetch(&s.http, Method::HEAD, url).await
}

/// A succeeded Runway image-to-video task with this `sim` object; its id and output URL.
async fn runway_output(s: &Sim, sim_object: Value) -> (String, String) {
    let id = s.create_runway(json!({"sim": sim_object})).await;
    let v = s.get(&format!("/v1/tasks/{id}")).await.json();
    assert_eq!(v["status"], "SUCCEEDED", "{v}");
    (id, v["output"][0].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn makevid_output_and_previews_are_served_with_the_task_bytes() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_makevid(Value::Null).await;
    let v = s.get(&format!("/api/v1/get_runway/{id}")).await.json();
    let artifact = &v["task"]["artifacts"][0];
    assert_eq!(artifact["fileSize"], "65536");
    let url = artifact["url"].as_str().unwrap();
    assert_eq!(url, s.out_url(&format!("{id}.mp4")));

    let d = get(&s, url).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.header("content-type"), Some("video/mp4"));
    assert_eq!(d.header("content-length"), Some("65536"));
    assert_eq!(d.body, output_bytes(&id, 64 * 1024));

    for (n, preview) in [1, 2]
        .into_iter()
        .zip(artifact["previewUrls"].as_array().unwrap())
    {
        let preview = preview.as_str().unwrap();
        assert_eq!(preview, s.out_url(&format!("{id}/{n}.jpg")));
        let d = get(&s, preview).await;
        assert_eq!(d.status, 200);
        assert_eq!(d.header("content-type"), Some("image/jpeg"));
        assert_eq!(
            d.header("content-length"),
            Some(&*PREVIEW_BYTES.to_string())
        );
        assert_eq!(d.body, preview_bytes(&id, n));
    }
    let record = s.server.task(&id).unwrap();
    assert_eq!(record.output_gets, 3);
    assert_eq!(record.outputs_completed, 3);
    assert_eq!(record.output_gets_by_file[&format!("{id}.mp4")], 1);
    assert_eq!(record.output_gets_by_file[&format!("{id}/2.jpg")], 1);
}

#[tokio::test]
async fn runway_outputs_are_served_with_the_type_of_their_kind() {
    let s = sim(timed(0, 0, 0)).await;
    let (id, url) = runway_output(&s, json!({})).await;
    let d = get(&s, &url).await;
    assert_eq!(
        (d.status, d.header("content-type")),
        (200, Some("video/mp4"))
    );
    assert_eq!(d.body, output_bytes(&id, 64 * 1024));

    let r = s
        .post("/v1/text_to_image", json!({"promptText": "a cat"}))
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let v = s.get(&format!("/v1/tasks/{id}")).await.json();
    let url = v["output"][0].as_str().unwrap();
    assert_eq!(url, s.out_url(&format!("{id}.png")));
    let d = get(&s, url).await;
    assert_eq!(
        (d.status, d.header("content-type")),
        (200, Some("image/png"))
    );
    assert_eq!(d.body, output_bytes(&id, 64 * 1024));
}

#[tokio::test]
async fn comet_outputs_are_served() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s.create_compat(Value::Null).await;
    let v = s.feed(&id).await.json();
    let d = get(&s, v["data"]["result_url"].as_str().unwrap()).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.body, output_bytes(&id, 64 * 1024));

    let id = s.create_official(Value::Null).await;
    let v = s.get(&format!("/runwayml/v1/tasks/{id}")).await.json();
    let d = get(&s, v["data"]["data"]["output"][0].as_str().unwrap()).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.body, output_bytes(&id, 64 * 1024));
}

#[tokio::test]
async fn output_bytes_sets_the_size() {
    let s = sim(timed(0, 0, 0)).await;
    for size in [0_usize, 1, 65_535, 65_537, 1_000_003] {
        let (id, url) = runway_output(&s, json!({"output_bytes": size})).await;
        let d = get(&s, &url).await;
        assert_eq!(d.status, 200);
        assert_eq!(d.header("content-length"), Some(&*size.to_string()));
        assert_eq!(d.body.len(), size);
        assert!(d.body == output_bytes(&id, size), "{size}");
        assert_eq!(s.server.task(&id).unwrap().outputs_completed, 1);
    }
}

#[tokio::test]
async fn head_answers_the_headers_and_is_not_a_get() {
    let s = sim(timed(0, 0, 0)).await;
    let (id, url) = runway_output(&s, json!({"output_bytes": 200_000})).await;
    let d = head(&s, &url).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.header("content-length"), Some("200000"));
    assert_eq!(d.header("content-type"), Some("video/mp4"));
    assert!(d.body.is_empty());
    let record = s.server.task(&id).unwrap();
    assert_eq!((record.output_heads, record.output_gets), (1, 0));
    assert_eq!(s.server.stats().output_gets_total(), 0);

    let preview = s.out_url(&format!("{id}/1.jpg"));
    assert_eq!(head(&s, &preview).await.status, 200);
    assert_eq!(s.server.task(&id).unwrap().output_heads, 2);
}

#[tokio::test]
async fn output_status_answers_instead_of_the_file() {
    let s = sim(timed(0, 0, 0)).await;
    for status in [404_u16, 410, 503] {
        let (id, url) = runway_output(&s, json!({"output_status": status})).await;
        let d = get(&s, &url).await;
        assert_eq!(d.status, status);
        assert_ne!(d.body, output_bytes(&id, 64 * 1024));
        assert_eq!(head(&s, &url).await.status, status);
        let preview = s.out_url(&format!("{id}/1.jpg"));
        assert_eq!(get(&s, &preview).await.status, status);
        let record = s.server.task(&id).unwrap();
        assert_eq!((record.output_gets, record.outputs_completed), (2, 0));
    }
    let (_, url) = runway_output(&s, json!({"output_status": 42})).await;
    assert_eq!(get(&s, &url).await.status, 500);
}

#[tokio::test]
async fn output_fail_times_refuses_the_first_gets_then_serves() {
    let s = sim(timed(0, 0, 0)).await;
    let (id, url) = runway_output(&s, json!({"output_fail_times": 2})).await;
    assert_eq!(get(&s, &url).await.status, 503);
    // A HEAD neither is refused nor uses up a failure.
    assert_eq!(head(&s, &url).await.status, 200);
    assert_eq!(get(&s, &url).await.status, 503);
    let d = get(&s, &url).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.body, output_bytes(&id, 64 * 1024));
    assert_eq!(get(&s, &url).await.status, 200);

    // Each file counts its own GETs.
    let preview = s.out_url(&format!("{id}/1.jpg"));
    assert_eq!(get(&s, &preview).await.status, 503);
    let record = s.server.task(&id).unwrap();
    assert_eq!(record.output_gets, 5);
    assert_eq!(record.output_gets_by_file[&format!("{id}.mp4")], 4);
    assert_eq!(record.output_gets_by_file[&format!("{id}/1.jpg")], 1);
    assert_eq!(record.outputs_completed, 2);
    assert_eq!(record.output_heads, 1);
}

#[tokio::test]
async fn output_content_type_replaces_the_header() {
    let s = sim(timed(0, 0, 0)).await;
    let sim_object = json!({"output_content_type": "application/octet-stream"});
    let (id, url) = runway_output(&s, sim_object).await;
    let d = get(&s, &url).await;
    assert_eq!(d.header("content-type"), Some("application/octet-stream"));
    assert_eq!(d.body, output_bytes(&id, 64 * 1024));
    let d = head(&s, &s.out_url(&format!("{id}/2.jpg"))).await;
    assert_eq!(d.header("content-type"), Some("application/octet-stream"));

    let (_, url) = runway_output(&s, json!({"output_content_type": "bad\nvalue"})).await;
    assert_eq!(get(&s, &url).await.status, 500);
}

#[tokio::test]
async fn chunk_delay_slows_the_body_and_a_cut_download_is_not_completed() {
    let s = sim(timed(0, 0, 0)).await;
    let sim_object = json!({"output_bytes": 4 * 65_536, "output_chunk_delay_ms": 150});
    let (id, url) = runway_output(&s, sim_object).await;

    let mut resp = s.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    let mut expected = vec![0; first.len()];
    fill_output_bytes(&id, 0, &mut expected);
    assert_eq!(first.to_vec(), expected);
    // The client hangs up mid-copy.
    drop(resp);
    let record = s.server.task(&id).unwrap();
    assert_eq!((record.output_gets, record.outputs_completed), (1, 0));

    let started = Instant::now();
    let d = get(&s, &url).await;
    // Three pauses between four chunks.
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert_eq!(d.body, output_bytes(&id, 4 * 65_536));
    let record = s.server.task(&id).unwrap();
    assert_eq!((record.output_gets, record.outputs_completed), (2, 1));
}

#[tokio::test]
async fn a_slow_download_is_cut_off_when_the_simulator_stops() {
    let s = sim(timed(0, 0, 0)).await;
    let sim_object = json!({"output_bytes": 4 * 65_536, "output_chunk_delay_ms": 60_000});
    let (_, url) = runway_output(&s, sim_object).await;
    let mut resp = s.http.get(&url).send().await.unwrap();
    let mut received = resp.chunk().await.unwrap().unwrap().len();
    let Sim { server, http } = s;
    drop(server);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => received += chunk.len(),
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .expect("the body ends once the simulator stops");
    // The first chunk arrived whole, and then the connection was cut.
    assert_eq!(received, 65_536);
    assert!(ended.is_err());
    drop(http);
}

#[tokio::test]
async fn files_not_there_are_404() {
    let s = sim(timed(0, 0, 60_000)).await;
    let unknown = [
        "00000000-0000-0000-0000-000000000000.mp4".to_owned(),
        "nothing".to_owned(),
        "x/1.jpg".to_owned(),
    ];
    for file in &unknown {
        assert_eq!(get(&s, &s.out_url(file)).await.status, 404, "{file}");
    }
    // Running: its files do not exist yet (the GETs still count).
    let id = s.create_runway(Value::Null).await;
    assert_eq!(get(&s, &s.out_url(&format!("{id}.mp4"))).await.status, 404);
    assert_eq!(head(&s, &s.out_url(&format!("{id}.mp4"))).await.status, 404);
    assert_eq!(s.server.task(&id).unwrap().output_gets, 1);
    assert!(s.server.finish(&id, Outcome::Succeed));
    assert_eq!(get(&s, &s.out_url(&format!("{id}.mp4"))).await.status, 200);
    for file in [
        format!("{id}.png"),
        id.clone(),
        format!("{id}/0.jpg"),
        format!("{id}/3.jpg"),
        format!("{id}/01.jpg"),
        format!("{id}/1.png"),
    ] {
        assert_eq!(get(&s, &s.out_url(&file)).await.status, 404, "{file}");
    }
    // A failed task has no output.
    let failed = s
        .create_runway(json!({"sim": {"outcome": "fail", "run_ms": 0}}))
        .await;
    let d = get(&s, &s.out_url(&format!("{failed}.mp4"))).await;
    assert_eq!(d.status, 404);
}

#[tokio::test]
async fn stats_count_output_gets_by_provider() {
    let s = sim(timed(0, 0, 0)).await;
    let (_, url) = runway_output(&s, json!({})).await;
    get(&s, &url).await;
    get(&s, &url).await;
    let id = s.create_makevid(Value::Null).await;
    s.get(&format!("/api/v1/get_runway/{id}")).await;
    get(&s, &s.out_url(&format!("{id}/1.jpg"))).await;
    let stats = s.server.stats();
    assert_eq!(stats.output_gets["runway"], 2);
    assert_eq!(stats.output_gets["makevid"], 1);
    assert_eq!(stats.output_gets["comet_compat"], 0);
    assert_eq!(stats.output_gets_total(), 3);
    let over_http: Stats = serde_json::from_value(s.get("/_sim/stats").await.json()).unwrap();
    assert_eq!(over_http, stats);
    s.server.reset();
    assert_eq!(s.server.stats().output_gets_total(), 0);
}

#[tokio::test]
async fn large_outputs_are_streamed_whole() {
    let s = sim(timed(0, 0, 0)).await;
    let size: u64 = 256 * 1024 * 1024;
    let (id, url) = runway_output(&s, json!({"output_bytes": size})).await;
    let http = reqwest::Client::new();
    let mut resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.content_length(), Some(size));
    let mut offset = 0_u64;
    let mut expected = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        expected.resize(chunk.len(), 0);
        fill_output_bytes(&id, offset, &mut expected);
        assert!(chunk[..] == expected[..], "bytes differ at {offset}");
        offset += chunk.len() as u64;
    }
    assert_eq!(offset, size);
    assert_eq!(s.server.task(&id).unwrap().outputs_completed, 1);
}

#[tokio::test]
async fn a_router_served_without_a_base_url_writes_urls_from_the_host() {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let state = SimState::new(SimConfig {
        scenario: timed(0, 0, 0),
        ..SimConfig::default()
    });
    assert_eq!(state.base_url(), None);
    let app = router(state.clone());
    let served = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let r = http
        .post(format!("{base}/v1/image_to_video"))
        .bearer_auth(common::KEY)
        .header("X-Runway-Version", common::VERSION)
        .json(&json!({"promptImage": "https://x.invalid/a.png"}))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let v: Value = http
        .get(format!("{base}/v1/tasks/{id}"))
        .bearer_auth(common::KEY)
        .header("X-Runway-Version", common::VERSION)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = v["output"][0].as_str().unwrap();
    assert_eq!(url, format!("{base}/_sim/out/{id}.mp4"));
    let d = fetch(&http, Method::GET, url).await;
    assert_eq!(d.body, output_bytes(&id, 64 * 1024));
    served.abort();

    let state = SimState::with_base_url(SimConfig::default(), "http://sim.test:1/");
    assert_eq!(state.base_url(), Some("http://sim.test:1"));
}
