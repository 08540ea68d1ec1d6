//! Helpers shared by the simulator's integration tests: a started simulator and a client.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use taskgate_sim::{Script, SimServer};

pub const KEY: &str = "sk-test";
pub const VERSION: &str = "2024-11-06";

/// A simulator with a scenario, and a client for it.
pub struct Sim {
    pub server: SimServer,
    pub http: reqwest::Client,
}

/// An answer: status, headers and body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Starts a simulator whose default script is `script`.
pub async fn sim(script: Script) -> Sim {
    let server = SimServer::start().await.unwrap();
    server.set_scenario(script);
    Sim::around(server)
}

/// A script with these phase lengths (ms).
pub fn timed(not_visible_ms: u64, queued_ms: u64, run_ms: u64) -> Script {
    Script::timed(not_visible_ms, queued_ms, run_ms)
}

impl Sim {
    pub fn around(server: SimServer) -> Sim {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Sim { server, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.base_url(), path)
    }

    /// The URL of a task's file as the simulator serves it: `file` is `{id}.mp4`,
    /// `{id}/1.jpg`, ...
    pub fn out_url(&self, file: &str) -> String {
        self.url(&format!("/_sim/out/{file}"))
    }

    /// A request with the test key and `X-Runway-Version`.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(KEY)
            .header("X-Runway-Version", VERSION)
    }

    pub async fn send(&self, rb: RequestBuilder) -> Reply {
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Creates a compat text-to-video task; returns its id.
    pub async fn create_compat(&self, extra: Value) -> String {
        let r = self
            .post(
                "/runway/pro/generate",
                merge(json!({"prompt": "a cat"}), extra),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["data"]["task_id"].as_str().unwrap().to_owned()
    }

    /// Creates an official image-to-video task; returns its id.
    pub async fn create_official(&self, extra: Value) -> String {
        let body = merge(
            json!({"promptImage": "https://x.invalid/a.png", "model": "gen4_turbo"}),
            extra,
        );
        let r = self.post("/runwayml/v1/image_to_video", body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Creates a Runway image-to-video task; returns its id.
    pub async fn create_runway(&self, extra: Value) -> String {
        let body = merge(
            json!({"promptImage": "https://x.invalid/a.png", "model": "gen4_turbo"}),
            extra,
        );
        let r = self.post("/v1/image_to_video", body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Creates a makevid task; returns its id.
    pub async fn create_makevid(&self, extra: Value) -> String {
        let body = merge(
            json!({"seconds": 5, "text_prompt": "a cat", "enhance_prompt": true}),
            extra,
        );
        let r = self.post("/api/v1/create_runway", body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["task"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn feed(&self, id: &str) -> Reply {
        self.post("/runway/feed", json!({"task_id": id})).await
    }
}

/// `base` with the keys of `extra` (an object or null) added.
pub fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// Polls `f` every 5 ms until it yields `Some`, for at most 5 s.
pub async fn until<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// Sorted owned strings, to compare with [`keys`].
pub fn sorted(list: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    k.sort();
    k
}
