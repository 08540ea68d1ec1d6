//! Global rate limits: one GCRA per key, evaluated atomically in Redis by a Lua script
//! on Redis's own clock (`TIME`), so the replicas' clocks never matter and no read-then-
//! write race exists between replicas. The script is sent by hash (`EVALSHA`) and
//! loaded on a miss.

use std::time::Duration;

use redis::Script;
use taskgate_config::RateLimit;

use super::{Cluster, RedisFailure};
use crate::traffic::budget::Decision;

/// KEYS[1]: the limit's key. ARGV[1]: emission interval in µs (period / count).
/// ARGV[2]: burst. Returns {allowed 0|1, remaining, retry_after µs}.
///
/// The stored value is the theoretical arrival time (TAT) in µs; one unit is allowed when
/// `TAT + interval - burst·interval <= now`. Lua numbers are doubles: exact up to 2^53 µs.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, 0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, math.floor((now - allow_at) / interval), 0}
";

/// The GCRA script, hashed once.
pub struct GlobalLimits {
    script: Script,
}

impl Default for GlobalLimits {
    fn default() -> GlobalLimits {
        GlobalLimits {
            script: Script::new(GCRA),
        }
    }
}

/// The emission interval of `limit` in µs (≥ 1).
fn interval_micros(limit: RateLimit) -> u64 {
    let per_unit = limit.period / limit.count.max(1);
    u64::try_from(per_unit.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl GlobalLimits {
    /// Takes one unit of `key`'s global budget if there is one.
    pub async fn check(
        &self,
        cluster: &Cluster,
        key: &str,
        limit: RateLimit,
    ) -> Result<Decision, RedisFailure> {
        let mut connection = cluster.connection();
        let redis_key = cluster.key(&format!("limit:{key}"));
        let mut invocation = self.script.key(&redis_key);
        invocation
            .arg(interval_micros(limit))
            .arg(limit.burst.max(1));
        let answer: Vec<i64> = cluster
            .call("rate limit", invocation.invoke_async(&mut connection))
            .await?;
        match answer.as_slice() {
            [1, remaining, _] => Ok(Decision::Allowed {
                remaining: u32::try_from(*remaining).unwrap_or(0),
            }),
            [0, _, wait] => Ok(Decision::Denied {
                retry_after: Duration::from_micros(u64::try_from(*wait).unwrap_or(0)),
            }),
            _ => Err(RedisFailure::BadAnswer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_period_over_count() {
        let limit = RateLimit {
            count: 20,
            period: Duration::from_secs(1),
            burst: 5,
        };
        assert_eq!(interval_micros(limit), 50_000);
        let odd = RateLimit {
            count: 0,
            period: Duration::ZERO,
            burst: 1,
        };
        assert_eq!(interval_micros(odd), 1);
    }
}
