//! Keys, counters, task records, per-task scripts and the `/_sim` control routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{sim, timed, Sim, KEY, VERSION};
use serde_json::{json, Value};
use taskgate_sim::{max_unfinished_at_once, Outcome, SimConfig, SimServer, Stats, TaskRecord};

async fn sim_with_keys(keys: &[&str]) -> Sim {
    let config = SimConfig {
        accepted_keys: Some(keys.iter().map(|k| (*k).to_owned()).collect::<HashSet<_>>()),
        scenario: timed(0, 0, 0),
    };
    let server = SimServer::start_with(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    Sim::around(server)
}

#[tokio::test]
async fn wrong_key_is_401_in_each_dialect_shape() {
    let s = sim_with_keys(&[KEY]).await;
    let cases = [
        ("/runway/pro/generate", json!({"prompt": "x"})),
        (
            "/runwayml/v1/image_to_video",
            json!({"promptImage": "https://x.invalid/a.png"}),
        ),
        (
            "/v1/image_to_video",
            json!({"promptImage": "https://x.invalid/a.png"}),
        ),
        ("/api/v1/create_runway", json!({"text_prompt": "x"})),
    ];
    for (path, body) in cases {
        let rb = s
            .http
            .post(s.url(path))
            .bearer_auth("sk-wrong")
            .header("X-Runway-Version", VERSION)
            .json(&body);
        let r = s.send(rb).await;
        assert_eq!(r.status, 401, "{path}");
        let v = r.json();
        match path {
            "/v1/image_to_video" => assert_eq!(common::keys(&v), ["error"]),
            "/api/v1/create_runway" => assert_eq!(v["code"], 401),
            _ => assert_eq!(
                (v["code"].clone(), v["data"].clone()),
                (json!("unauthorized"), Value::Null)
            ),
        }
        assert_eq!(
            s.post(path, body).await.status,
            200,
            "{path} with the right key"
        );
    }
    let stats = s.server.stats();
    assert_eq!((stats.rejected_total(), stats.creates_total()), (4, 4));
}

#[tokio::test]
async fn missing_or_empty_key_is_401_even_without_a_key_list() {
    let s = sim(timed(0, 0, 0)).await;
    let no_key = s
        .http
        .post(s.url("/runway/feed"))
        .json(&json!({"task_id": "x"}));
    assert_eq!(s.send(no_key).await.status, 401);
    let empty = s
        .http
        .get(s.url("/v1/tasks/x"))
        .header("Authorization", "Bearer ");
    assert_eq!(s.send(empty).await.status, 401);
    let any = s
        .http
        .get(s.url("/api/v1/get_runway/x"))
        .bearer_auth("anything");
    assert_eq!(s.send(any).await.status, 404);
    assert_eq!(
        s.server.stats().polls_total(),
        1,
        "refused polls are not counted"
    );
}

#[tokio::test]
async fn counters_count_creates_polls_cancels_and_rejections() {
    let s = sim(timed(0, 0, 60_000)).await;
    let compat = s.create_compat(Value::Null).await;
    let runway = s.create_runway(Value::Null).await;
    s.create_makevid(Value::Null).await;
    for _ in 0..3 {
        s.feed(&compat).await;
    }
    s.get(&format!("/v1/tasks/{runway}")).await;
    s.delete(&format!("/v1/tasks/{runway}")).await;
    s.post("/runway/pro/act_one", json!({})).await;

    let stats = s.server.stats();
    assert_eq!(stats.creates_total(), 3);
    assert_eq!(stats.polls_total(), 4);
    assert_eq!(stats.creates["comet_official"], 0);
    assert_eq!(stats.polls["comet_compat"], 3);
    assert_eq!(stats.cancels["runway"], 1);
    assert_eq!(stats.rejected["comet_compat"], 1);
    let record = s.server.task(&compat).unwrap();
    assert_eq!(record.polls, 3);
    assert_eq!(record.poll_times_ms.len(), 3, "one time per poll");
    assert!(
        record.poll_times_ms.windows(2).all(|w| w[0] <= w[1]),
        "in arrival order: {:?}",
        record.poll_times_ms
    );

    let r = s.send(s.http.get(s.url("/_sim/stats"))).await;
    let over_http: Stats = serde_json::from_str(&r.text).unwrap();
    assert_eq!(over_http, stats);
    let v = r.json();
    for kind in ["creates", "polls", "cancels", "rejected"] {
        assert_eq!(
            common::keys(&v[kind]),
            common::sorted(&["comet_compat", "comet_official", "makevid", "runway"])
        );
    }
}

#[tokio::test]
async fn task_record_has_the_body_without_sim_and_raw_headers() {
    let s = sim(timed(0, 0, 0)).await;
    let id = s
        .create_compat(json!({"ratio": "16:9", "sim": {"run_ms": 60000}}))
        .await;
    let rec = s.server.task(&id).unwrap();
    assert_eq!(rec.provider, "comet_compat");
    assert_eq!(rec.body, json!({"prompt": "a cat", "ratio": "16:9"}));
    assert_eq!(
        rec.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(rec.header("X-Runway-Version"), Some(VERSION));
    let r = s
        .send(s.http.get(s.url(&format!("/_sim/tasks/{id}"))))
        .await;
    let over_http: TaskRecord = serde_json::from_str(&r.text).unwrap();
    assert_eq!(over_http, rec);
    assert_eq!(
        s.send(s.http.get(s.url("/_sim/tasks/nope"))).await.status,
        404
    );
    assert!(s.server.task("nope").is_none());
}

fn now_unix_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

/// Lets the wall clock move past the current ms, so spans in a test are ordered strictly.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[tokio::test]
async fn task_records_hold_create_and_finish_times() {
    let s = sim(timed(0, 60_000, 0)).await;
    let before = now_unix_ms();
    let open = s.create_runway(Value::Null).await;
    tick().await;
    let instant = s
        .create_runway(json!({"sim": {"queued_ms": 0, "run_ms": 0}}))
        .await;
    let scripted = s
        .create_runway(json!({"sim": {"queued_ms": 0, "run_ms": 1000}}))
        .await;
    tick().await;
    let forced = s.create_makevid(Value::Null).await;
    tick().await;
    let cancelled = s.create_runway(Value::Null).await;
    tick().await;
    assert!(s.server.finish(&forced, Outcome::Fail));
    tick().await;
    assert_eq!(
        s.delete(&format!("/v1/tasks/{cancelled}")).await.status,
        204
    );
    tick().await;
    let open_too = s.create_makevid(Value::Null).await;
    common::until(|| async {
        s.server
            .task(&scripted)
            .unwrap()
            .finished_unix_ms
            .map(|_| ())
    })
    .await;
    let after = now_unix_ms();

    let rec = |id: &str| s.server.task(id).unwrap();
    for id in [&open, &instant, &scripted, &forced, &cancelled, &open_too] {
        let created = rec(id).created_unix_ms;
        assert!((before..=after).contains(&created), "{id}: {created}");
    }
    assert_eq!(rec(&open).finished_unix_ms, None);
    assert_eq!(rec(&open_too).finished_unix_ms, None);
    assert_eq!(
        rec(&instant).finished_unix_ms,
        Some(rec(&instant).created_unix_ms),
        "a script of no time ends at its create"
    );
    let scripted_end = rec(&scripted).finished_unix_ms.unwrap();
    assert_eq!(scripted_end, rec(&scripted).created_unix_ms + 1000);
    for id in [&forced, &cancelled] {
        let r = rec(id);
        let end = r.finished_unix_ms.unwrap();
        assert!(end >= r.created_unix_ms + 5, "{id}: ended after a tick");
        assert!(end <= after + 5, "{id}: {end} vs {after}");
        assert_eq!(rec(id), r, "a finished record does not change");
    }

    // Over HTTP: the same records, plus the id.
    let list = s.get("/_sim/tasks").await.json();
    let records: Vec<TaskRecord> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap())
        .collect();
    assert_eq!(records.len(), 6);
    let by_id: Vec<(String, TaskRecord)> = s.server.tasks();
    for ((id, mine), (v, over_http)) in by_id
        .iter()
        .zip(list.as_array().unwrap().iter().zip(&records))
    {
        assert_eq!(v["id"], json!(id));
        assert_eq!(over_http.created_unix_ms, mine.created_unix_ms);
        assert_eq!(over_http.finished_unix_ms, mine.finished_unix_ms);
    }
    assert!(list[0]["finished_unix_ms"].is_null());

    // open, scripted (for 1 s), forced and cancelled overlap (`instant` never counts);
    // open_too starts after forced and cancelled ended.
    assert_eq!(max_unfinished_at_once(&records, None), 4);
    assert_eq!(max_unfinished_at_once(&records, Some("runway")), 3);
    assert_eq!(max_unfinished_at_once(&records, Some("makevid")), 1);
    assert_eq!(s.server.max_unfinished_at_once(Some("runway")), 3);
    assert_eq!(s.server.max_unfinished_at_once(Some("comet_compat")), 0);
}

#[tokio::test]
async fn per_task_script_via_sim_object() {
    let s = sim(timed(0, 60_000, 0)).await;
    let quick = s
        .create_runway(json!({"sim": {"queued_ms": 0, "outcome": "fail", "failure_code": "X.Y"}}))
        .await;
    let slow = s.create_runway(Value::Null).await;
    let v = s.get(&format!("/v1/tasks/{quick}")).await.json();
    assert_eq!(
        (v["status"].clone(), v["failureCode"].clone()),
        (json!("FAILED"), json!("X.Y"))
    );
    assert_eq!(
        s.get(&format!("/v1/tasks/{slow}")).await.json()["status"],
        "PENDING"
    );
    let bad = json!({"promptImage": "https://x.invalid/a.png", "sim": {"outcome": "maybe"}});
    let r = s.post("/v1/image_to_video", bad).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn finish_forces_an_outcome_over_http_and_api() {
    let s = sim(timed(0, 60_000, 0)).await;
    let a = s.create_makevid(Value::Null).await;
    let b = s
        .create_compat(json!({"sim": {"not_visible_ms": 60000}}))
        .await;
    let finish = |id: &str, outcome: &str| {
        s.http
            .post(s.url(&format!("/_sim/tasks/{id}/finish")))
            .json(&json!({"outcome": outcome}))
    };
    assert_eq!(s.send(finish(&a, "fail")).await.status, 200);
    assert_eq!(s.send(finish(&a, "succeed")).await.status, 409);
    assert_eq!(s.send(finish("nope", "fail")).await.status, 404);
    let t = s.get(&format!("/api/v1/get_runway/{a}")).await.json()["task"].clone();
    assert_eq!(t["status"], "FAILED");
    assert!(s.server.finish(&b, Outcome::Succeed));
    let inner = s.feed(&b).await.json()["data"].clone();
    assert_eq!(
        inner["status"], "SUCCESS",
        "a forced task is visible at once"
    );
    assert!(inner["start_time"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn scenario_over_http_then_reset() {
    let server = SimServer::start().await.unwrap();
    let s = Sim::around(server);
    let r = s
        .send(
            s.http
                .post(s.url("/_sim/scenario"))
                .json(&json!({"not_visible_ms": 0, "queued_ms": 0, "run_ms": 0})),
        )
        .await;
    assert_eq!(r.status, 200);
    let id = s.create_compat(Value::Null).await;
    assert_eq!(s.feed(&id).await.json()["data"]["status"], "SUCCESS");
    let r = s.send(s.http.post(s.url("/_sim/reset"))).await;
    assert_eq!(r.status, 200);
    assert!(s.server.task(&id).is_none());
    assert_eq!(s.server.stats().creates_total(), 0);
    let id = s.create_compat(Value::Null).await;
    assert_eq!(
        s.feed(&id).await.status,
        400,
        "the default 1 s window is back"
    );
}

#[tokio::test]
async fn binary_serves_on_the_address_it_logs() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskgate-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--key",
            KEY,
            "--not-visible-ms",
            "0",
            "--queued-ms",
            "0",
            "--run-ms",
            "0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let at = line.find("http://").unwrap_or_else(|| panic!("{line}"));
    let base: String = line[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/v1/create_runway"))
        .bearer_auth(KEY)
        .json(&json!({"text_prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{base}/api/v1/create_runway"))
        .bearer_auth("other")
        .json(&json!({"text_prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    child.kill().unwrap();
    child.wait().unwrap();
}
