//! Whether Redis answers, and how many replicas it has seen lately. Transitions are logged
//! once each way, and exported as `taskgate_cluster_redis_up` and
//! `taskgate_cluster_replicas_seen`.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use super::RedisFailure;
use crate::metrics::Metrics;

pub struct RedisHealth {
    up: AtomicBool,
    replicas_seen: AtomicU32,
    replica_id: String,
    metrics: Arc<Metrics>,
}

impl RedisHealth {
    /// Starts hopeful: up, one replica (this one) seen. The first failed call or heartbeat
    /// says otherwise.
    pub fn new(replica_id: &str, metrics: Arc<Metrics>) -> RedisHealth {
        metrics.cluster_redis_up(replica_id, true);
        metrics.cluster_replicas_seen(replica_id, 1);
        RedisHealth {
            up: AtomicBool::new(true),
            replicas_seen: AtomicU32::new(1),
            replica_id: replica_id.to_string(),
            metrics,
        }
    }

    /// Whether limits are global (Redis answered the last call).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Replicas that heartbeated lately; the last known count while Redis is down. ≥ 1.
    pub fn replicas_seen(&self) -> u32 {
        self.replicas_seen.load(Ordering::Acquire).max(1)
    }

    pub(crate) fn mark_down(&self, what: &str, failure: &RedisFailure) {
        if self.up.swap(false, Ordering::AcqRel) {
            self.metrics.cluster_redis_up(&self.replica_id, false);
            tracing::warn!(call = what, error = %failure, replicas_seen = self.replicas_seen(), "Redis unreachable: rate limits are local (each replica enforces limit / replicas seen) and task events are local until it answers again");
        }
    }

    pub(crate) fn mark_up(&self, replicas_seen: u32) {
        let seen = replicas_seen.max(1);
        self.replicas_seen.store(seen, Ordering::Release);
        self.metrics.cluster_replicas_seen(&self.replica_id, seen);
        if !self.up.swap(true, Ordering::AcqRel) {
            self.metrics.cluster_redis_up(&self.replica_id, true);
            tracing::info!(
                replicas_seen = seen,
                "Redis answers again: rate limits are global"
            );
        }
    }
}
