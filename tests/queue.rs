//! The gateway's queue against the real gateway and the simulator: `max_concurrent` held
//! at the provider (measured from the simulator's own task timelines), positions, weighted
//! fair share, priorities, cancel while queued, timeouts, caps, and a 429 on dispatch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{expect_error, Harness, KEY_A, KEY_B};
use serde_json::{json, Value};
use taskgate_sim::{max_unfinished_at_once, FaultKind, FaultRule, Outcome, Script};

/// makevid holds `${MAX}` tasks at once; acme weighs 2, beta 1.
const TEMPLATE: &str = r#"
server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  request_timeout: 10s
store: ${STORE}
tasks:
  refresh_after: 100ms
  not_found_grace: 3s
  watch_every: 100ms
  give_up_after: 1h
  max_queued_for: ${MAX_QUEUED_FOR}
providers:
  makevid: {type: makevid, base_url: "${SIM}", api_key: k-makevid, timeout: 2s, retries: 0, max_concurrent: ${MAX}}
  runway: {type: runway, base_url: "${SIM}", api_key: k-runway, timeout: 2s, retries: 0, max_concurrent: ${MAX}}
tenants:
  acme:
    keys: ["${KEY_A_HASH}"]
    queue_weight: 2
    max_queued: ${MAX_QUEUED}
    routes: {text_to_video: [makevid], character_performance: [runway]}
  beta:
    keys: ["${KEY_B_HASH}"]
    routes: {text_to_video: [makevid]}
"#;

struct Settings {
    max: u32,
    max_queued: u32,
    max_queued_for: &'static str,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max: 1,
            max_queued: 1000,
            max_queued_for: "1h",
        }
    }
}

async fn start(settings: Settings) -> Harness {
    let template = TEMPLATE
        .replace("${MAX}", &settings.max.to_string())
        .replace("${MAX_QUEUED}", &settings.max_queued.to_string())
        .replace("${MAX_QUEUED_FOR}", settings.max_queued_for);
    let h = Harness::start_with(&template, "{kind: memory}").await;
    h.sim.set_scenario(Script::timed(0, 100, 200));
    h
}

fn video(prompt: &str) -> Value {
    json!({"type": "text_to_video", "input": {"prompt": prompt}})
}

/// A task that holds its slot until the test ends it at the simulator.
fn blocker() -> Value {
    json!({"type": "text_to_video",
           "input": {"prompt": "blocker", "extra": {"sim": {"queued_ms": 0, "run_ms": 600000}}}})
}

async fn create_as(h: &Harness, key: &str, body: Value) -> Value {
    let res = h.post(key, "/v1/tasks", &body).await;
    let status = res.status().as_u16();
    let json: Value = res.json().await.unwrap();
    assert_eq!(status, 202, "create answered {status}: {json}");
    json
}

/// Starts a blocker and returns its provider task id.
async fn occupy(h: &Harness) -> String {
    let task = create_as(h, KEY_A, blocker()).await;
    assert_eq!(task["provider"], "makevid", "{task}");
    assert_eq!(task["queue"], Value::Null, "{task}");
    task["provider_task_id"].as_str().unwrap().to_string()
}

async fn read(h: &Harness, key: &str, id: &str) -> Value {
    let res = h.get(key, &format!("/v1/tasks/{id}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn position(task: &Value) -> Option<u64> {
    task["queue"]["position"].as_u64()
}

/// The order in which the simulator received creates, as the prompts sent.
fn arrival_order(h: &Harness) -> Vec<String> {
    let mut tasks = h.sim.tasks();
    tasks.sort_by_key(|(_, t)| t.created_unix_ms);
    tasks
        .into_iter()
        .map(|(_, t)| {
            let prompt = t.body["text_prompt"]
                .as_str()
                .or(t.body["prompt"].as_str())
                .or(t.body["promptText"].as_str())
                .unwrap_or_default();
            prompt.to_string()
        })
        .collect()
}

async fn wait_all_succeeded(h: &Harness, tasks: &[(&str, String)]) {
    for (key, id) in tasks {
        h.wait_until(key, id, Duration::from_secs(30), |t| {
            t["status"] == "succeeded"
        })
        .await;
    }
}

#[tokio::test]
async fn eight_creates_with_max_concurrent_two_never_run_three_at_the_provider() {
    let h = start(Settings {
        max: 2,
        ..Settings::default()
    })
    .await;
    // Long enough that the two first tasks surely overlap, short enough for a quick test.
    h.sim.set_scenario(Script::timed(0, 200, 800));
    let creates = (0..8).map(|i| create_as(&h, KEY_A, video(&format!("fox {i}"))));
    let tasks = futures::future::join_all(creates).await;
    let queued = tasks.iter().filter(|t| t["provider"].is_null()).count();
    assert!(queued >= 6, "at most 2 go at once: {tasks:?}");
    for task in tasks.iter().filter(|t| t["provider"].is_null()) {
        assert_eq!(task["status"], "queued");
        assert!(position(task).is_some_and(|p| p >= 1), "{task}");
    }
    let ids: Vec<_> = tasks
        .iter()
        .map(|t| (KEY_A, t["id"].as_str().unwrap().to_string()))
        .collect();
    wait_all_succeeded(&h, &ids).await;
    let records: Vec<_> = h.sim.tasks().into_iter().map(|(_, t)| t).collect();
    assert_eq!(records.len(), 8, "one upstream create per task");
    assert_eq!(h.sim.stats().creates_total(), 8);
    let most = max_unfinished_at_once(&records, None);
    assert_eq!(
        most, 2,
        "the provider held at most (and, busy, exactly) 2 at once"
    );
}

#[tokio::test]
async fn positions_behind_a_busy_slot_are_one_two_three_and_only_go_down() {
    let h = start(Settings::default()).await;
    let first = occupy(&h).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let task = create_as(&h, KEY_A, video(&format!("fox {i}"))).await;
        assert_eq!(task["status"], "queued");
        assert_eq!(task["provider"], Value::Null);
        assert_eq!(position(&task), Some(i + 1), "{task}");
        assert_eq!(task["queue"]["priority"], 0);
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    // Still the same while the slot is busy.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(position(&read(&h, KEY_A, id).await), Some(i as u64 + 1));
    }
    let providers: Value = h.get(KEY_A, "/v1/providers").await.json().await.unwrap();
    let makevid = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "makevid")
        .unwrap()
        .clone();
    assert_eq!(makevid["max_concurrent"], 1, "{makevid}");
    assert_eq!(makevid["running"], 1, "{makevid}");
    assert_eq!(makevid["queued"], 3, "{makevid}");

    assert!(h.sim.finish(&first, Outcome::Succeed));
    let mut last: Vec<u64> = vec![1, 2, 3];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut now = Vec::new();
        for id in &ids {
            let task = read(&h, KEY_A, id).await;
            now.push(position(&task).unwrap_or(0));
        }
        for (before, after) in last.iter().zip(&now) {
            assert!(after <= before, "a position went up: {last:?} -> {now:?}");
        }
        last = now;
        if last.iter().all(|p| *p == 0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queue never drained: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let done: Vec<_> = ids.iter().map(|id| (KEY_A, id.clone())).collect();
    wait_all_succeeded(&h, &done).await;
    assert_eq!(
        arrival_order(&h)[1..],
        ["fox 0", "fox 1", "fox 2"],
        "oldest first within a tenant"
    );
}

#[tokio::test]
async fn weights_two_to_one_give_the_heavier_tenant_two_of_three_freed_slots() {
    let h = start(Settings::default()).await;
    let first = occupy(&h).await;
    let mut ids = Vec::new();
    // The lighter tenant's tasks arrive first: the order does not decide the share.
    for i in 0..6 {
        let task = create_as(&h, KEY_B, video(&format!("beta {i}"))).await;
        ids.push((KEY_B, task["id"].as_str().unwrap().to_string()));
    }
    for i in 0..6 {
        let task = create_as(&h, KEY_A, video(&format!("acme {i}"))).await;
        ids.push((KEY_A, task["id"].as_str().unwrap().to_string()));
    }
    assert!(h.sim.finish(&first, Outcome::Succeed));
    wait_all_succeeded(&h, &ids).await;
    let order = arrival_order(&h);
    let after_blocker = &order[1..];
    let heavy = |n: usize| {
        after_blocker[..n]
            .iter()
            .filter(|p| p.starts_with("acme"))
            .count()
    };
    assert_eq!(
        heavy(6),
        4,
        "two of three slots to weight 2: {after_blocker:?}"
    );
    assert_eq!(
        heavy(9),
        6,
        "two of three slots to weight 2: {after_blocker:?}"
    );
}

#[tokio::test]
async fn within_a_tenant_higher_priority_goes_first_then_older() {
    let h = start(Settings::default()).await;
    let first = occupy(&h).await;
    let mut ids = Vec::new();
    for (name, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 10), ("e", -3)] {
        let mut body = video(name);
        body["priority"] = json!(priority);
        let task = create_as(&h, KEY_A, body).await;
        assert_eq!(task["queue"]["priority"], priority);
        ids.push((KEY_A, task["id"].as_str().unwrap().to_string()));
    }
    let res = h
        .post(
            KEY_A,
            "/v1/tasks",
            &json!({"type": "text_to_video", "input": {"prompt": "x"}, "priority": 11}),
        )
        .await;
    expect_error(res, 400, "invalid_request").await;
    assert!(h.sim.finish(&first, Outcome::Succeed));
    wait_all_succeeded(&h, &ids).await;
    assert_eq!(arrival_order(&h)[1..], ["d", "b", "a", "c", "e"]);
}

#[tokio::test]
async fn cancel_while_queued_is_immediate_and_reaches_no_provider() {
    let h = start(Settings::default()).await;
    let first = occupy(&h).await;
    // runway can cancel upstream, makevid cannot: while queued, both cancel at once.
    let mut queued = vec![create_as(&h, KEY_A, video("never")).await];
    let runway_blocker = create_as(
        &h,
        KEY_A,
        json!({"type": "character_performance", "input": {"character_url": "https://x.test/c.png", "reference_video_url": "https://x.test/r.mp4", "extra": {"sim": {"queued_ms": 0, "run_ms": 600000}}}}),
    )
    .await;
    assert_eq!(runway_blocker["provider"], "runway");
    queued.push(
        create_as(
            &h,
            KEY_A,
            json!({"type": "character_performance", "input": {"character_url": "https://x.test/c.png", "reference_video_url": "https://x.test/r.mp4"}}),
        )
        .await,
    );
    let creates_before = h.sim.stats().creates_total();
    for task in &queued {
        assert_eq!(task["status"], "queued", "{task}");
        let id = task["id"].as_str().unwrap();
        let res = h
            .post(KEY_A, &format!("/v1/tasks/{id}/cancel"), &json!({}))
            .await;
        assert_eq!(res.status(), 200);
        let canceled: Value = res.json().await.unwrap();
        assert_eq!(canceled["status"], "canceled", "{canceled}");
        assert_eq!(canceled["provider"], Value::Null);
        assert_eq!(canceled["queue"], Value::Null);
    }
    assert!(h.sim.finish(&first, Outcome::Succeed));
    let id = queued[0]["id"].as_str().unwrap();
    // The freed slot finds nothing to send: the canceled task stays canceled.
    let next = create_as(&h, KEY_A, video("after")).await;
    h.wait_until(
        KEY_A,
        next["id"].as_str().unwrap(),
        Duration::from_secs(20),
        |t| t["status"] == "succeeded",
    )
    .await;
    assert_eq!(read(&h, KEY_A, id).await["status"], "canceled");
    assert_eq!(h.sim.stats().creates_total(), creates_before + 1);
    assert_eq!(
        h.sim.stats().cancels_total(),
        0,
        "nothing was canceled upstream"
    );
}

#[tokio::test]
async fn a_task_waiting_past_max_queued_for_fails_with_queue_timeout() {
    let h = start(Settings {
        max_queued_for: "1s",
        ..Settings::default()
    })
    .await;
    let _first = occupy(&h).await;
    let task = create_as(&h, KEY_A, video("late")).await;
    let id = task["id"].as_str().unwrap();
    let failed = h
        .wait_until(KEY_A, id, Duration::from_secs(20), |t| {
            t["status"] == "failed"
        })
        .await;
    assert_eq!(failed["error"]["code"], "queue_timeout", "{failed}");
    assert_eq!(failed["provider"], Value::Null);
    assert_eq!(
        h.sim.stats().creates_total(),
        1,
        "only the blocker was sent"
    );
}

#[tokio::test]
async fn max_queued_caps_a_tenants_waiting_tasks_and_they_count_as_unfinished() {
    let h = start(Settings {
        max_queued: 2,
        ..Settings::default()
    })
    .await;
    let _first = occupy(&h).await;
    create_as(&h, KEY_A, video("one")).await;
    create_as(&h, KEY_A, video("two")).await;
    let res = h.post(KEY_A, "/v1/tasks", &video("three")).await;
    expect_error(res, 429, "concurrency_limited").await;
    // The other tenant's line is its own.
    create_as(&h, KEY_B, video("beta")).await;
    let metrics = h
        .http
        .get(format!("{}/metrics", h.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("taskgate_queue_depth{tenant=\"acme\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("taskgate_queue_depth{tenant=\"beta\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("taskgate_provider_in_flight{provider=\"makevid\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("taskgate_queue_wait_seconds_count"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_429_on_dispatch_puts_the_task_back_and_it_is_created_once_later() {
    let h = start(Settings::default()).await;
    h.sim.push_fault(
        FaultRule::any(FaultKind::Status {
            code: 429,
            retry_after_s: None,
            retry_after_ms: Some(300),
        })
        .times(1),
    );
    let task = create_as(&h, KEY_A, video("throttled")).await;
    assert_eq!(task["status"], "queued");
    assert_eq!(
        task["provider"],
        Value::Null,
        "refused: back in the queue: {task}"
    );
    assert_eq!(position(&task), Some(1), "{task}");
    let id = task["id"].as_str().unwrap();
    let done = h
        .wait_until(KEY_A, id, Duration::from_secs(20), |t| {
            t["status"] == "succeeded"
        })
        .await;
    assert_eq!(done["provider"], "makevid");
    assert_eq!(
        h.sim.stats().creates_total(),
        1,
        "the refused create did nothing"
    );
}

#[tokio::test]
async fn an_event_stream_sees_the_task_leave_the_queue() {
    let h = start(Settings::default()).await;
    let first = occupy(&h).await;
    let task = create_as(&h, KEY_A, video("streamed")).await;
    let id = task["id"].as_str().unwrap().to_string();
    let mut stream = h
        .http
        .get(h.url(&format!("/v1/tasks/{id}/events")))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let chunk = stream.chunk().await.unwrap().unwrap();
    text.push_str(&String::from_utf8_lossy(&chunk));
    assert!(text.contains("\"position\":1"), "{text}");
    assert!(h.sim.finish(&first, Outcome::Succeed));
    let left = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("\"provider\":\"makevid\"") {
                return;
            }
        }
    })
    .await;
    assert!(left.is_ok(), "no event with the provider: {text}");
}

#[tokio::test]
async fn another_tenant_cannot_read_cancel_or_count_a_queued_task() {
    let h = start(Settings::default()).await;
    let first = occupy(&h).await;
    let task = create_as(&h, KEY_A, video("acme's")).await;
    let id = task["id"].as_str().unwrap();
    let res = h.get(KEY_B, &format!("/v1/tasks/{id}")).await;
    expect_error(res, 404, "not_found").await;
    let res = h
        .post(KEY_B, &format!("/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    expect_error(res, 404, "not_found").await;
    let queued_for = |providers: &Value| {
        providers["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "makevid")
            .map(|p| p["queued"].clone())
    };
    let beta: Value = h.get(KEY_B, "/v1/providers").await.json().await.unwrap();
    assert_eq!(queued_for(&beta), Some(json!(0)), "{beta}");
    let acme: Value = h.get(KEY_A, "/v1/providers").await.json().await.unwrap();
    assert_eq!(queued_for(&acme), Some(json!(1)), "{acme}");
    // Still acme's, still queued, and it runs once the slot frees.
    assert_eq!(read(&h, KEY_A, id).await["status"], "queued");
    assert!(h.sim.finish(&first, Outcome::Succeed));
    h.wait_until(KEY_A, id, Duration::from_secs(20), |t| {
        t["status"] == "succeeded"
    })
    .await;
}
