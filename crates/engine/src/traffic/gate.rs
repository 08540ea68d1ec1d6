//! The one place a rate budget is spent, for tenants and providers alike. With a cluster
//! whose Redis answers, the budget is global (one GCRA in Redis for all replicas);
//! otherwise it is this process's governor budget, and with a cluster whose Redis is
//! away, this replica's share of it: `limit / replicas seen` (at least 1), so the
//! replicas together still stay within the limit.

use std::sync::Arc;
use std::time::Duration;

use taskgate_config::RateLimit;

use super::budget::{Budgets, Decision};
use crate::cluster::Cluster;

#[derive(Clone, Default)]
pub struct RateGate {
    local: Arc<Budgets>,
    cluster: Option<Arc<Cluster>>,
}

/// This replica's share of `limit` when `replicas` share it without coordination.
pub fn share(limit: RateLimit, replicas: u32) -> RateLimit {
    let n = replicas.max(1);
    RateLimit {
        count: (limit.count / n).max(1),
        period: limit.period,
        burst: (limit.burst / n).max(1),
    }
}

impl RateGate {
    pub fn new(cluster: Option<Arc<Cluster>>) -> RateGate {
        RateGate {
            local: Arc::new(Budgets::default()),
            cluster,
        }
    }

    /// Takes one unit of `key`'s budget under `limit` if there is one.
    pub async fn check(&self, key: &str, limit: RateLimit) -> Decision {
        let Some(cluster) = &self.cluster else {
            return self.local.get(key, limit).check();
        };
        if cluster.health.is_up() {
            if let Ok(decision) = cluster.limits.check(cluster, key, limit).await {
                return decision;
            }
        }
        let local = share(limit, cluster.health.replicas_seen());
        self.local.get(key, local).check()
    }

    /// Takes one unit, waiting up to `max_wait` for one. On failure, how long until one
    /// would be free.
    pub async fn acquire(
        &self,
        key: &str,
        limit: RateLimit,
        max_wait: Duration,
    ) -> Result<(), Duration> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            match self.check(key, limit).await {
                Decision::Allowed { .. } => return Ok(()),
                Decision::Denied { retry_after } => {
                    if tokio::time::Instant::now() + retry_after > deadline {
                        return Err(retry_after);
                    }
                    tokio::time::sleep(retry_after).await;
                }
            }
        }
    }

    /// Whether budgets are global right now (a cluster whose Redis answers).
    pub fn is_global(&self) -> bool {
        self.cluster.as_ref().is_some_and(|c| c.health.is_up())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_divides_count_and_burst_but_never_below_one() {
        let limit = RateLimit {
            count: 30,
            period: Duration::from_secs(1),
            burst: 6,
        };
        let third = share(limit, 3);
        assert_eq!((third.count, third.burst), (10, 2));
        assert_eq!(share(limit, 0), limit);
        let tiny = share(limit, 100);
        assert_eq!((tiny.count, tiny.burst), (1, 1));
    }

    #[tokio::test]
    async fn without_a_cluster_the_local_budget_decides() {
        let gate = RateGate::new(None);
        let limit = RateLimit {
            count: 1,
            period: Duration::from_secs(60),
            burst: 2,
        };
        assert!(matches!(
            gate.check("tenant:a", limit).await,
            Decision::Allowed { remaining: 1 }
        ));
        assert!(matches!(
            gate.check("tenant:a", limit).await,
            Decision::Allowed { remaining: 0 }
        ));
        assert!(matches!(
            gate.check("tenant:a", limit).await,
            Decision::Denied { .. }
        ));
        assert!(gate
            .acquire("tenant:a", limit, Duration::from_millis(1))
            .await
            .is_err());
        assert!(!gate.is_global());
    }
}
