//! The Redis-facing parts of a cluster against a real Redis (the shared test one, under a
//! namespace of each test's own): the GCRA script, the poll lock, and what happens when
//! Redis refuses connections or hangs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskgate::cluster::poll_lock::Turn;
use taskgate::cluster::Cluster;
use taskgate::metrics::Metrics;
use taskgate::traffic::budget::Decision;
use taskgate::traffic::gate::RateGate;
use taskgate_config::{ClusterConfig, RateLimit};
use taskgate_core::Secret;

fn cluster(url: &str, namespace: &str, replica: &str) -> Cluster {
    let config = ClusterConfig {
        redis_url: Secret::new(url),
        replica_id: Some(replica.to_string()),
        namespace: namespace.to_string(),
    };
    Cluster::new(&config, replica, Arc::new(Metrics::new())).unwrap()
}

fn namespace() -> String {
    format!("tgtest-{}", ulid::Ulid::new())
}

/// One a second after a burst of 3: a token comes back only after a second, so a few
/// calls in a row see the burst spent however slowly a loaded machine makes them.
const ONE_PER_SECOND_BURST_3: RateLimit = RateLimit {
    count: 1,
    period: Duration::from_secs(1),
    burst: 3,
};

#[tokio::test]
async fn the_redis_gcra_is_shared_by_replicas_and_says_when_to_retry() {
    if !common::cluster::shared_redis_or_skip().await {
        return;
    }
    let ns = namespace();
    let url = common::cluster::redis_url();
    let (a, b) = (cluster(&url, &ns, "a"), cluster(&url, &ns, "b"));
    let limit = ONE_PER_SECOND_BURST_3;
    let mut seen = Vec::new();
    for c in [&a, &b, &a, &b] {
        seen.push(c.limits.check(c, "tenant:acme", limit).await.unwrap());
    }
    assert_eq!(
        seen[..3],
        [
            Decision::Allowed { remaining: 2 },
            Decision::Allowed { remaining: 1 },
            Decision::Allowed { remaining: 0 }
        ]
    );
    let Decision::Denied { retry_after } = seen[3] else {
        panic!("{seen:?}");
    };
    assert!(
        retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1),
        "{retry_after:?}"
    );
    tokio::time::sleep(retry_after + Duration::from_millis(5)).await;
    assert!(matches!(
        b.limits.check(&b, "tenant:acme", limit).await.unwrap(),
        Decision::Allowed { .. }
    ));
    // Another key, another budget.
    assert!(matches!(
        a.limits.check(&a, "tenant:beta", limit).await.unwrap(),
        Decision::Allowed { remaining: 2 }
    ));
}

#[tokio::test]
async fn replicas_take_turns_polling_a_task() {
    if !common::cluster::shared_redis_or_skip().await {
        return;
    }
    let ns = namespace();
    let url = common::cluster::redis_url();
    let (a, b) = (cluster(&url, &ns, "a"), cluster(&url, &ns, "b"));
    let hold = Duration::from_secs(5);
    assert_eq!(a.poll_lock.take(&a, "task_1", hold).await, Turn::Ours);
    assert_eq!(b.poll_lock.take(&b, "task_1", hold).await, Turn::Pending);
    assert!(b.poll_lock.pending(&b, "task_1").await);
    assert_eq!(b.poll_lock.take(&b, "task_2", hold).await, Turn::Ours);
    // Fresh for a second: ample for the next two calls, however loaded the machine.
    let fresh = Duration::from_secs(1);
    a.poll_lock.done(&a, "task_1", fresh).await;
    match b.poll_lock.take(&b, "task_1", hold).await {
        Turn::Done { fresh_for } => assert!(fresh_for <= fresh),
        other => panic!("{other:?}"),
    }
    assert!(!b.poll_lock.pending(&b, "task_1").await);
    tokio::time::sleep(fresh + Duration::from_millis(50)).await;
    assert_eq!(b.poll_lock.take(&b, "task_1", hold).await, Turn::Ours);
}

#[tokio::test]
async fn a_refusing_redis_means_local_limits_at_once() {
    // Nothing listens on port 1.
    let c = Arc::new(cluster("redis://127.0.0.1:1", &namespace(), "a"));
    let gate = RateGate::new(Some(c.clone()));
    assert!(gate.is_global(), "hopeful until a call fails");
    let started = Instant::now();
    let first = gate.check("tenant:acme", ONE_PER_SECOND_BURST_3).await;
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(first, Decision::Allowed { remaining: 2 });
    assert!(!c.health.is_up());
    assert!(!gate.is_global());
    // Redis is no longer asked: the local budget (one replica seen: the whole limit).
    let started = Instant::now();
    for _ in 0..2 {
        assert!(matches!(
            gate.check("tenant:acme", ONE_PER_SECOND_BURST_3).await,
            Decision::Allowed { .. }
        ));
    }
    assert!(matches!(
        gate.check("tenant:acme", ONE_PER_SECOND_BURST_3).await,
        Decision::Denied { .. }
    ));
    // Less than one Redis call may take: none was made.
    assert!(
        started.elapsed() < taskgate::cluster::CALL_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        c.poll_lock.take(&c, "task_1", Duration::from_secs(1)).await,
        Turn::Unknown
    );
}

#[tokio::test]
async fn a_hung_redis_costs_a_call_at_most_the_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let c = cluster(&format!("redis://{addr}"), &namespace(), "a");
    let started = Instant::now();
    let answer = c
        .limits
        .check(&c, "tenant:acme", ONE_PER_SECOND_BURST_3)
        .await;
    let took = started.elapsed();
    assert!(answer.is_err());
    assert!(took < Duration::from_millis(700), "{took:?}");
    assert!(!c.health.is_up());
}
