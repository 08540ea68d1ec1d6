//! Several replicas on one Redis: global rate limits (`limits`), task events across
//! replicas (`events`), one upstream poll per task at a time (`poll_lock`), and the
//! heartbeat that counts replicas and notices when Redis goes away or comes back
//! (`heartbeat`, `health`).
//!
//! Every Redis call is bounded by [`CALL_TIMEOUT`], so a hung Redis costs a request at
//! most that. A failed call marks Redis down; only the heartbeat marks it up again.
//! Keys and channels all start with `<cluster.namespace>:`.

pub mod events;
pub mod health;
pub mod heartbeat;
pub mod limits;
pub mod poll_lock;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use taskgate_config::ClusterConfig;

use crate::metrics::Metrics;
use health::RedisHealth;

/// Longest wait for one Redis answer.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// Why a Redis call gave nothing usable. Never holds the URL (it may carry a password).
#[derive(Debug, Clone, thiserror::Error)]
pub enum RedisFailure {
    #[error("no answer from Redis within {0:?}")]
    Timeout(Duration),
    #[error("Redis call failed: {0}")]
    Failed(String),
    #[error("unexpected answer from Redis")]
    BadAnswer,
}

/// This replica's handle on the cluster's Redis.
pub struct Cluster {
    client: redis::Client,
    connection: ConnectionManager,
    namespace: String,
    replica_id: String,
    pub health: RedisHealth,
    pub limits: limits::GlobalLimits,
    pub poll_lock: poll_lock::PollLock,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .field("replica_id", &self.replica_id)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Prepares the connection without waiting for Redis: a replica starts (and serves,
    /// under local limits) while Redis is unreachable.
    pub fn new(
        config: &ClusterConfig,
        replica_id: &str,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Cluster> {
        // The error text of a bad URL could quote it: say only which setting is wrong.
        let client = redis::Client::open(config.redis_url.expose())
            .map_err(|_| anyhow::anyhow!("cluster.redis_url is not a usable Redis URL"))?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT * 2))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), manager)
            .map_err(|e| anyhow::anyhow!("cannot prepare the Redis connection: {e}"))?;
        Ok(Cluster {
            client,
            connection,
            namespace: config.namespace.clone(),
            replica_id: replica_id.to_string(),
            health: RedisHealth::new(replica_id, metrics),
            limits: limits::GlobalLimits::default(),
            poll_lock: poll_lock::PollLock::default(),
        })
    }

    /// `<namespace>:<suffix>`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.namespace)
    }

    pub fn replica_id(&self) -> &str {
        &self.replica_id
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A handle on the shared multiplexed connection (cheap).
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Runs one Redis call with the timeout; a failure marks Redis down.
    pub(crate) async fn call<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, RedisFailure> {
        let failure = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => RedisFailure::Failed(e.to_string()),
            Err(_) => RedisFailure::Timeout(CALL_TIMEOUT),
        };
        self.health.mark_down(what, &failure);
        Err(failure)
    }
}
