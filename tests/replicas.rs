//! Three real `taskgate` processes on loopback sharing the test PostgreSQL and Redis,
//! against one simulator: global limits, cross-replica reads, waits and streams, one
//! poll per task at a time, webhooks delivered once, a replica SIGKILLed, Redis stopped
//! and started again. Each test prints what it measured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Options, PrivateRedis, Receiver, Replicas, PRIVATE_REDIS_PASSWORD};
use common::*;
use futures::StreamExt;
use serde_json::{json, Value};
use taskgate_sim::{FaultKind, FaultRule, Op, Provider, SimServer};

fn task_body(sim: Value, callback: Option<&str>) -> Value {
    let mut body =
        json!({"type": "text_to_video", "input": {"prompt": "a fox", "extra": {"sim": sim}}});
    if let Some(url) = callback {
        body["callback_url"] = json!(url);
    }
    body
}

/// Creates on replica `n` (round robin); the task JSON on 202, else the status.
async fn create_on(r: &Replicas, n: usize, body: &Value) -> Result<Value, u16> {
    let res = r
        .http
        .post(format!("{}/v1/tasks", r.base(n)))
        .bearer_auth(KEY_A)
        .json(body)
        .send()
        .await
        .map_err(|_| 0u16)?;
    match res.status().as_u16() {
        202 => Ok(res.json().await.unwrap()),
        other => Err(other),
    }
}

async fn read_on(r: &Replicas, n: usize, path: &str) -> (u16, Value) {
    let res = r
        .http
        .get(format!("{}{path}", r.base(n)))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// One request of [`load`]: when it was sent and answered (since the start), and how.
#[derive(Debug, Clone, Copy)]
struct Answer {
    sent: Duration,
    answered: Duration,
    status: u16,
}

/// The most answers that were decided within one `window`, counting only those whose
/// whole round trip (send to answer) lies inside it: the server decided each of them in
/// that window whatever the delays on the way, so a loaded machine cannot inflate the count.
fn max_in_window(answers: &[Answer], window: Duration) -> usize {
    answers
        .iter()
        .map(|first| {
            answers
                .iter()
                .filter(|a| a.sent >= first.sent && a.answered <= first.sent + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Sends one request every `every` for `length`, round robin over the replicas; returns
/// every [`Answer`] and the whole elapsed time.
async fn load<F, Fut>(
    r: &Replicas,
    every: Duration,
    length: Duration,
    send: F,
) -> (Vec<Answer>, Duration)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = u16> + Send + 'static,
{
    let start = Instant::now();
    let mut pending = Vec::new();
    let mut n = 0;
    while start.elapsed() < length {
        let request = send(r.base(n).to_string());
        pending.push(tokio::spawn(async move {
            let sent = start.elapsed();
            let status = request.await;
            Answer {
                sent,
                answered: start.elapsed(),
                status,
            }
        }));
        n += 1;
        tokio::time::sleep(every).await;
    }
    let mut answers = Vec::new();
    for p in pending {
        answers.push(p.await.unwrap());
    }
    (answers, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_limit_holds_across_three_replicas() {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(fast_script());
    let options = Options {
        tenant_limit: "rate_limit: {per_second: 20, burst: 5}",
        ..Options::default()
    };
    let Some(r) = Replicas::start(&sim.base_url(), options).await else {
        return;
    };
    r.wait_ready(Duration::from_secs(10), |b| {
        b["limits"] == "global" && b["replicas_seen"] == 3
    })
    .await;
    let http = r.http.clone();
    let (answers, elapsed) = load(
        &r,
        Duration::from_millis(10),
        Duration::from_secs(3),
        move |base| {
            let http = http.clone();
            async move {
                http.post(format!("{base}/v1/tasks"))
                    .bearer_auth(KEY_A)
                    .json(&text_to_video())
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16())
            }
        },
    )
    .await;
    let allowed: Vec<Answer> = answers
        .iter()
        .filter(|a| a.status == 202)
        .copied()
        .collect();
    let refused = answers.iter().filter(|a| a.status == 429).count();
    let others: Vec<_> = answers
        .iter()
        .filter(|a| a.status != 202 && a.status != 429)
        .collect();
    let bound = 20.0 * elapsed.as_secs_f64() + 5.0;
    let busiest_second = max_in_window(&allowed, Duration::from_secs(1));
    let creates = sim.stats().creates_total();
    eprintln!(
        "global limit 20/s burst 5 over 3 replicas: {} requests in {:.2}s, {} accepted (bound {:.1}), {} refused, busiest 1s window {}, simulator saw {} creates",
        answers.len(), elapsed.as_secs_f64(), allowed.len(), bound, refused, busiest_second, creates
    );
    assert!(others.is_empty(), "{others:?}");
    assert!(allowed.len() as f64 <= bound, "{} > {bound}", allowed.len());
    // A per-replica limit would let about three times as many through.
    assert!(
        allowed.len() as f64 >= 0.8 * 20.0 * 3.0,
        "{}",
        allowed.len()
    );
    // 20 a second plus the burst of 5 (and one more where a decision falls on both ends).
    assert!(busiest_second <= 25 + 1, "{busiest_second}");
    assert_eq!(creates, allowed.len() as u64);
}

/// Reads an SSE stream until it ends; returns the `task` events' JSON.
async fn sse_events(http: reqwest::Client, url: String) -> Vec<Value> {
    let res = http.get(url).bearer_auth(KEY_A).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_created_on_one_replica_is_read_waited_and_streamed_on_the_others() {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(fast_script());
    let Some(r) = Replicas::start(&sim.base_url(), Options::default()).await else {
        return;
    };
    let task = create_on(
        &r,
        0,
        &task_body(json!({"queued_ms": 800, "run_ms": 1500}), None),
    )
    .await
    .unwrap();
    let id = task["id"].as_str().unwrap().to_string();
    let (status, seen) = read_on(&r, 1, &format!("/v1/tasks/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(seen["id"], task["id"]);

    let started = Instant::now();
    let wait = {
        let http = r.http.clone();
        let url = format!("{}/v1/tasks/{id}?wait=20", r.base(2));
        tokio::spawn(async move {
            let res = http.get(url).bearer_auth(KEY_A).send().await.unwrap();
            let body: Value = res.json().await.unwrap();
            (body, chrono::Utc::now())
        })
    };
    let streams: Vec<_> = [1, 2]
        .iter()
        .map(|n| {
            tokio::spawn(sse_events(
                r.http.clone(),
                format!("{}/v1/tasks/{id}/events", r.base(*n)),
            ))
        })
        .collect();
    let (waited, answered_at) = wait.await.unwrap();
    assert_eq!(waited["status"], "succeeded", "{waited}");
    let finished_at: chrono::DateTime<chrono::Utc> =
        waited["finished_at"].as_str().unwrap().parse().unwrap();
    let lag = (answered_at - finished_at).num_milliseconds();
    eprintln!(
        "long-poll on replica 3 answered succeeded after {:.2}s, {lag} ms after finished_at",
        started.elapsed().as_secs_f64()
    );
    assert!(lag < 1500, "the long-poll saw the end {lag} ms late");
    for (n, stream) in streams.into_iter().enumerate() {
        let events = tokio::time::timeout(Duration::from_secs(20), stream)
            .await
            .expect("the stream never ended")
            .unwrap();
        let statuses: Vec<&str> = events
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        eprintln!("SSE on replica {}: {statuses:?}", n + 2);
        assert_eq!(statuses.last(), Some(&"succeeded"), "{events:?}");
        let progress: Vec<f64> = events
            .iter()
            .filter_map(|e| e["progress"].as_f64())
            .collect();
        assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_concurrent_reads_over_three_replicas_poll_upstream_at_most_twice() {
    let sim = SimServer::start().await.unwrap();
    // The watcher stays out of the way: only reads poll here. A second of freshness: a
    // read of a round that a loaded machine delays still finds the round's poll fresh.
    let options = Options {
        watch_every: "60s",
        refresh_after: "1s",
        ..Options::default()
    };
    let Some(r) = Replicas::start(&sim.base_url(), options).await else {
        return;
    };
    let task = create_on(
        &r,
        0,
        &task_body(json!({"queued_ms": 100, "run_ms": 600000}), None),
    )
    .await
    .unwrap();
    let id = task["id"].as_str().unwrap().to_string();
    let ptid = task["provider_task_id"].as_str().unwrap().to_string();
    let mut per_round = Vec::new();
    for _ in 0..3 {
        // Past refresh_after: every replica sees the task as stale.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let before = sim.task(&ptid).unwrap().polls;
        let reads = (0..30).map(|n| {
            let http = r.http.clone();
            let url = format!("{}/v1/tasks/{id}", r.base(n));
            async move {
                http.get(url)
                    .bearer_auth(KEY_A)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures::future::join_all(reads).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        per_round.push(sim.task(&ptid).unwrap().polls - before);
    }
    eprintln!("30 concurrent reads over 3 replicas, 3 rounds 1.1 s apart: upstream polls per round {per_round:?}");
    for polls in per_round {
        assert!((1..=2).contains(&polls), "{polls} polls");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_tasks_are_polled_one_replica_at_a_time_and_each_webhook_goes_once() {
    let sim = SimServer::start().await.unwrap();
    let receiver = Receiver::default();
    // Every 10th webhook fails its first attempt, so retries happen too.
    let hook = receiver
        .start(|_, attempt, order| attempt == 1 && order % 10 == 0)
        .await;
    let Some(r) = Replicas::start(&sim.base_url(), Options::default()).await else {
        return;
    };
    let watch_every = Duration::from_millis(500);
    let started = Instant::now();
    let creates = futures::stream::iter(0..300)
        .map(|i| {
            let outcome = if i % 5 == 0 { "fail" } else { "succeed" };
            let body = task_body(
                json!({"queued_ms": 300, "run_ms": 1200 + (i % 7) * 100, "outcome": outcome}),
                Some(&hook),
            );
            let r = &r;
            async move { create_on(r, i, &body).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let tasks: Vec<Value> = creates.into_iter().map(|c| c.unwrap()).collect();
    eprintln!(
        "300 creates over 3 replicas in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.accepted_ids() < 300 {
        assert!(
            Instant::now() < deadline,
            "only {} of 300 webhooks delivered",
            receiver.accepted_ids()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Once the store shows every delivery done, no attempt is left that could duplicate.
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.deliveries_undelivered().await > 0 {
        assert!(Instant::now() < deadline, "deliveries never recorded done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let duplicates = receiver.duplicates();
    eprintln!(
        "300 webhooks delivered {:.2}s after the first create, {} attempts in all, duplicates {duplicates:?}",
        started.elapsed().as_secs_f64(),
        receiver.total_attempts()
    );
    assert!(duplicates.is_empty(), "{duplicates:?}");
    assert_eq!(receiver.accepted_ids(), 300);

    let mut min_gap = u64::MAX;
    let mut total_polls = 0;
    for (n, task) in tasks.iter().enumerate() {
        let (status, stored) = read_on(
            &r,
            n,
            &format!("/v1/tasks/{}", task["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            matches!(stored["status"].as_str(), Some("succeeded" | "failed")),
            "{stored}"
        );
        let record = sim
            .task(task["provider_task_id"].as_str().unwrap())
            .unwrap();
        total_polls += record.polls;
        for pair in record.poll_times_ms.windows(2) {
            min_gap = min_gap.min(pair[1] - pair[0]);
        }
    }
    eprintln!("{total_polls} polls of 300 tasks; closest two polls of one task: {min_gap} ms (watch_every 500 ms, jitter -10%)");
    // Next looks are scheduled 0.9-1.1 × watch_every after a poll ends.
    assert!(
        min_gap as f64 >= watch_every.as_millis() as f64 * 0.9 - 20.0,
        "{min_gap} ms"
    );
}

/// What replica `n` held when it was frozen.
struct Frozen {
    task_leases: i64,
    delivery_leases: usize,
    /// Of those deliveries, the ones whose attempt was open at the receiver.
    attempts_in_flight: usize,
    /// Freezes it took (the replica went on after each that found too little).
    freezes: u32,
}

/// Waits until the store shows replica `n` leasing tasks and deliveries, then freezes it
/// (SIGSTOP) and checks again: frozen, it can neither finish nor give up what it holds,
/// and nobody else may take a lease before it expires, seconds later. If the check fails
/// the replica goes on (SIGCONT) and the wait continues, up to `limit`.
async fn freeze_holding_leases(
    r: &Replicas,
    receiver: &Receiver,
    n: usize,
    limit: Duration,
) -> Frozen {
    let replica = format!("replica-{}", n + 1);
    let started = Instant::now();
    let mut last = (0, 0, 0);
    let mut freezes = 0;
    loop {
        let (tasks, deliveries) = r.leases_held(&replica).await;
        if tasks > 0 && deliveries > 0 {
            r.gateways[n].signal("STOP");
            freezes += 1;
            let (tasks, _) = r.leases_held(&replica).await;
            let leased = r.leased_deliveries(&replica).await;
            let open = receiver.open_ids();
            let in_flight = leased.iter().filter(|id| open.contains(*id)).count();
            if tasks > 0 && in_flight > 0 {
                return Frozen {
                    task_leases: tasks,
                    delivery_leases: leased.len(),
                    attempts_in_flight: in_flight,
                    freezes,
                };
            }
            last = (tasks, leased.len(), in_flight);
            r.gateways[n].signal("CONT");
        }
        assert!(
            started.elapsed() < limit,
            "{replica} never held a task lease and a delivery with an attempt in flight at once \
             within {limit:?}; last frozen look (task leases, delivery leases, in flight): {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_run_loses_nothing() {
    let sim = SimServer::start().await.unwrap();
    // No webhook is answered until after the kill: each attempt stays in flight, its
    // delivery leased, until the sender's 1 s timeout, and is then tried again.
    let receiver = Receiver::holding();
    let hook = receiver.start(|_, _, _| false).await;
    let options = Options {
        // Polls are held on purpose below; an open circuit would stop sending them.
        makevid_more: ", circuit: {min_calls: 1000000}",
        ..Options::default()
    };
    let Some(r) = Replicas::start(&sim.base_url(), options).await else {
        return;
    };
    let mut ids = Vec::new();
    // Tasks that end at once, on every replica: their webhooks are attempted, and held.
    for i in 0..30 {
        let outcome = if i % 5 == 0 { "fail" } else { "succeed" };
        let body = task_body(
            json!({"queued_ms": 200, "run_ms": 300, "outcome": outcome}),
            Some(&hook),
        );
        let task = create_on(&r, i, &body).await.unwrap();
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.attempted_ids() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} webhooks attempted",
            receiver.attempted_ids(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // From now on the simulator holds every poll (the provider's 2 s timeout ends each
    // one, and the watchers claim the task again): tasks created now keep task leases busy.
    sim.push_fault(FaultRule::on(Provider::Makevid, Op::Poll, FaultKind::Hold));
    for i in 30..60 {
        let body = task_body(json!({"queued_ms": 200, "run_ms": 300}), Some(&hook));
        let task = create_on(&r, i, &body).await.unwrap();
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    let frozen = freeze_holding_leases(&r, &receiver, 0, Duration::from_secs(30)).await;
    let attempts_before_kill = receiver.total_attempts();
    r.gateways[0].signal("KILL");
    let killed_at = Instant::now();
    receiver.release();
    sim.release_holds();
    // Creates on the survivors go on.
    for i in 0..10 {
        let body = task_body(json!({"queued_ms": 200, "run_ms": 500}), Some(&hook));
        let task = create_on(&r, 1 + i % 2, &body).await.unwrap();
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    // Nobody reads the tasks until every webhook is in: the survivors' watchers must take
    // over the dead replica's leased tasks on their own, and their outboxes its deliveries.
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.accepted_ids() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} webhooks delivered",
            receiver.accepted_ids(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = killed_at.elapsed();
    // Once the store shows every delivery done, no attempt is left that could duplicate.
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.deliveries_undelivered().await > 0 {
        assert!(Instant::now() < deadline, "deliveries never recorded done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (n, id) in ids.iter().enumerate() {
        let (status, task) = read_on(&r, 1 + n % 2, &format!("/v1/tasks/{id}")).await;
        assert_eq!(status, 200, "task {id} lost");
        assert!(
            matches!(task["status"].as_str(), Some("succeeded" | "failed")),
            "task {id} not finished: {task}"
        );
    }
    eprintln!(
        "at the kill (freeze {}) replica 1 held {} task lease(s) and {} delivery lease(s), {} with an attempt open at the receiver ({} attempts made in all)",
        frozen.freezes, frozen.task_leases, frozen.delivery_leases, frozen.attempts_in_flight, attempts_before_kill
    );
    eprintln!(
        "all {} tasks finished by the survivors' watchers ({} polls in all) and their webhooks were delivered {:.2}s after the kill ({} duplicate deliveries)",
        ids.len(),
        sim.stats().polls_total(),
        delivered.as_secs_f64(),
        receiver.duplicates().len()
    );
    assert!(
        receiver.duplicates().is_empty(),
        "{:?}",
        receiver.duplicates()
    );
    assert_eq!(receiver.accepted_ids(), ids.len());
    assert_eq!(
        r.leases_held("replica-1").await,
        (0, 0),
        "tasks or deliveries left leased by the dead replica"
    );
    assert_eq!(sim.stats().creates_total(), ids.len() as u64);
}

/// Scrapes `taskgate_cluster_redis_up` of replica `n`.
async fn redis_up_metric(r: &Replicas, n: usize) -> Option<String> {
    let text = r
        .http
        .get(format!("{}/metrics", r.gateways[n].admin))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("taskgate_cluster_redis_up{"))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_replicas_serve_under_local_shares_then_go_global_again() {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(fast_script());
    let Some(mut redis) = PrivateRedis::start().await else {
        return;
    };
    let options = Options {
        tenant_limit: "rate_limit: {per_second: 30, burst: 6}",
        redis_url: Some(redis.url()),
        ..Options::default()
    };
    let Some(r) = Replicas::start(&sim.base_url(), options).await else {
        return;
    };
    r.wait_ready(Duration::from_secs(10), |b| {
        b["limits"] == "global" && b["replicas_seen"] == 3
    })
    .await;
    let http = r.http.clone();
    let send = move |base: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/v1/tasks?limit=1"))
                .bearer_auth(KEY_A)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16())
        }
    };
    let summarize = |answers: &[Answer], elapsed: Duration, phase: &str| {
        let ok = answers.iter().filter(|a| a.status == 200).count();
        let limited = answers.iter().filter(|a| a.status == 429).count();
        let other: Vec<_> = answers
            .iter()
            .filter(|a| a.status != 200 && a.status != 429)
            .collect();
        eprintln!(
            "{phase}: {} requests in {:.2}s: {ok} served, {limited} refused (bound {:.1})",
            answers.len(),
            elapsed.as_secs_f64(),
            30.0 * elapsed.as_secs_f64() + 6.0
        );
        assert!(other.is_empty(), "{phase}: {other:?}");
        assert!(
            ok as f64 <= 30.0 * elapsed.as_secs_f64() + 6.0,
            "{phase}: {ok}"
        );
        ok
    };
    let (answers, elapsed) = load(
        &r,
        Duration::from_millis(10),
        Duration::from_secs(2),
        send.clone(),
    )
    .await;
    summarize(&answers, elapsed, "Redis up");

    redis.kill();
    let down = Instant::now();
    r.wait_ready(Duration::from_secs(5), |b| {
        b["status"] == "ready" && b["limits"] == "local" && b["redis"] == "down"
    })
    .await;
    eprintln!(
        "all replicas said limits local {:.2}s after Redis was killed",
        down.elapsed().as_secs_f64()
    );
    assert_eq!(
        redis_up_metric(&r, 0).await.unwrap(),
        "taskgate_cluster_redis_up{replica=\"replica-1\"} 0"
    );
    let (answers, elapsed) = load(
        &r,
        Duration::from_millis(10),
        Duration::from_secs(2),
        send.clone(),
    )
    .await;
    let served = summarize(
        &answers,
        elapsed,
        "Redis down (local shares 10/s burst 2 each)",
    );
    assert!(served > 20, "requests must keep being served: {served}");

    // Without events across replicas, waiters still see another replica's change within
    // about a second (the store re-read).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let task = create_on(
        &r,
        0,
        &task_body(json!({"queued_ms": 300, "run_ms": 700}), None),
    )
    .await
    .unwrap();
    let id = task["id"].as_str().unwrap().to_string();
    let stream = tokio::spawn(sse_events(
        r.http.clone(),
        format!("{}/v1/tasks/{id}/events", r.base(2)),
    ));
    let res = r
        .http
        .get(format!("{}/v1/tasks/{id}?wait=20", r.base(1)))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap();
    let answered_at = chrono::Utc::now();
    let waited: Value = res.json().await.unwrap();
    assert_eq!(waited["status"], "succeeded", "{waited}");
    let finished_at: chrono::DateTime<chrono::Utc> =
        waited["finished_at"].as_str().unwrap().parse().unwrap();
    let lag = (answered_at - finished_at).num_milliseconds();
    let events = tokio::time::timeout(Duration::from_secs(10), stream)
        .await
        .expect("the stream never ended")
        .unwrap();
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    eprintln!("Redis down: long-poll on replica 2 saw the end {lag} ms after finished_at; SSE on replica 3: {statuses:?}");
    assert!(lag < 1800, "{lag} ms");
    assert_eq!(statuses.last(), Some(&"succeeded"));

    assert!(redis.launch().await, "redis-server did not start again");
    let back = Instant::now();
    r.wait_ready(Duration::from_secs(10), |b| {
        b["limits"] == "global" && b["redis"] == "up"
    })
    .await;
    eprintln!(
        "all replicas global again {:.2}s after Redis restarted",
        back.elapsed().as_secs_f64()
    );
    assert_eq!(
        redis_up_metric(&r, 1).await.unwrap(),
        "taskgate_cluster_redis_up{replica=\"replica-2\"} 1"
    );
    let (answers, elapsed) =
        load(&r, Duration::from_millis(10), Duration::from_secs(2), send).await;
    summarize(&answers, elapsed, "Redis back");

    for g in &r.gateways {
        let log = g.log();
        let count = |prefix: &str| {
            log.iter()
                .filter(|l| l["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
                .count()
        };
        assert_eq!(count("Redis unreachable"), 1, "warned once per outage");
        assert_eq!(
            count("Redis answers again"),
            1,
            "told once when it returned"
        );
        assert!(
            !g.stderr().contains(PRIVATE_REDIS_PASSWORD),
            "the Redis password is never logged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_tasks_over_three_replicas_never_run_three_at_a_provider_limited_to_two() {
    let sim = SimServer::start().await.unwrap();
    let options = Options {
        makevid_more: ", max_concurrent: 2",
        watch_every: "200ms",
        ..Options::default()
    };
    let Some(r) = Replicas::start(&sim.base_url(), options).await else {
        return;
    };
    let body = task_body(json!({"queued_ms": 200, "run_ms": 800}), None);
    let creates = (0..12).map(|i| create_on(&r, i % 3, &body));
    let tasks: Vec<Value> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(|t| t.expect("create accepted"))
        .collect();
    let queued = tasks.iter().filter(|t| t["provider"].is_null()).count();
    assert!(queued >= 10, "at most 2 go at once: {queued} queued");
    let started = Instant::now();
    for (i, task) in tasks.iter().enumerate() {
        let id = task["id"].as_str().unwrap();
        loop {
            let (status, task) = read_on(&r, (i + 1) % 3, &format!("/v1/tasks/{id}")).await;
            assert_eq!(status, 200);
            if task["status"] == "succeeded" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{task}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let records: Vec<_> = sim.tasks().into_iter().map(|(_, t)| t).collect();
    assert_eq!(records.len(), 12, "each task created once");
    assert_eq!(sim.stats().creates_total(), 12);
    let most = taskgate_sim::max_unfinished_at_once(&records, None);
    println!(
        "max unfinished at the provider at once over 3 replicas: {most}; took {:?}",
        started.elapsed()
    );
    assert_eq!(most, 2);
}

/// Durable outputs on three replicas: every task's output is copied once (the watcher's
/// lease holds the copy), whichever replica created it, and every replica serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_output_is_copied_once_across_three_replicas() {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(fast_script());
    let options = Options {
        watch_every: "200ms",
        outputs: true,
        ..Options::default()
    };
    let Some(r) = Replicas::start(&sim.base_url(), options).await else {
        return;
    };
    let mut created = Vec::new();
    for n in 0..6 {
        let base = r.base(n % 3).to_string();
        let task: serde_json::Value = r
            .http
            .post(format!("{base}/v1/tasks"))
            .bearer_auth(KEY_A)
            .json(
                &serde_json::json!({"type": "text_to_video", "input": {"prompt": "fox",
                "extra": {"sim": {"queued_ms": 100, "run_ms": 300,
                                  "output_bytes": 2 << 20, "output_chunk_delay_ms": 20}}}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created.push(task);
    }
    for (n, task) in created.iter().enumerate() {
        let id = task["id"].as_str().unwrap();
        let base = r.base((n + 1) % 3).to_string();
        let start = std::time::Instant::now();
        let done = loop {
            let read: serde_json::Value = r
                .http
                .get(format!("{base}/v1/tasks/{id}?wait=10"))
                .bearer_auth(KEY_A)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if read["status"] == "succeeded" {
                break read;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "{read}");
        };
        assert_eq!(done["outputs"][0]["stored"], true, "{done}");
        let url = done["outputs"][0]["url"].as_str().unwrap();
        // Signed by one replica, served by any (the key is shared through the store).
        let other = format!(
            "{}{}",
            r.base((n + 2) % 3),
            &url[url.find("/v1/files").unwrap()..]
        );
        let res = r.http.get(&other).send().await.unwrap();
        assert_eq!(res.status(), 200, "{other}");
        assert_eq!(res.bytes().await.unwrap().len(), 2 << 20);
        let ptid = task["provider_task_id"].as_str().unwrap();
        assert_eq!(
            sim.task(ptid).unwrap().output_gets,
            1,
            "copied more than once"
        );
    }
}
