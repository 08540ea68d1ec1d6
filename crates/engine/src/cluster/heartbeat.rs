//! Every second, this replica writes its id with Redis's clock into the replicas sorted set
//! and counts the members seen within [`SEEN_WITHIN`]. It is also the probe that brings
//! Redis back up after a failure: only a successful heartbeat marks it up.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use tokio::sync::watch;

use super::Cluster;

pub const EVERY: Duration = Duration::from_secs(1);
/// A replica counts as present this long after its last heartbeat.
pub const SEEN_WITHIN: Duration = Duration::from_secs(10);

/// KEYS[1]: the replicas set. ARGV: replica id, window in ms. Returns the replicas seen.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 6)
return redis.call('ZCARD', KEYS[1])
";

/// One heartbeat; Ok(replicas seen).
pub async fn beat(cluster: &Cluster, script: &Script) -> Result<u32, super::RedisFailure> {
    let mut connection = cluster.connection();
    let key = cluster.key("replicas");
    let window = u64::try_from(SEEN_WITHIN.as_millis()).unwrap_or(10_000);
    let mut invocation = script.key(&key);
    invocation.arg(cluster.replica_id()).arg(window);
    let seen: i64 = cluster
        .call("heartbeat", invocation.invoke_async(&mut connection))
        .await?;
    Ok(u32::try_from(seen).unwrap_or(1))
}

pub async fn run(cluster: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    let script = Script::new(HEARTBEAT);
    loop {
        if let Ok(seen) = beat(&cluster, &script).await {
            cluster.health.mark_up(seen);
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    // Leaving: stop counting as a replica at once rather than after SEEN_WITHIN.
    let key = cluster.key("replicas");
    let mut connection = cluster.connection();
    let mut command = redis::cmd("ZREM");
    command.arg(&key).arg(cluster.replica_id());
    let _ = cluster
        .call("leave", command.query_async::<i64>(&mut connection))
        .await;
}
