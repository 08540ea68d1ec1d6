//! One upstream poll per task at a time across replicas: a refresh first takes
//! `<namespace>:poll:<task>` (`SET NX PX`). The holder polls, stores, then marks the lock
//! `done` for `refresh_after`, so the others read the stored result instead of polling.
//! While Redis is down, only the local single-flight applies.

use std::time::Duration;

use redis::Script;

use super::Cluster;

/// KEYS[1]: the lock. ARGV[1]: hold in ms while polling. Returns {state, ms left}:
/// `ours`, `pending` (another replica polls now), `done` (another replica polled lately).
const TAKE: &str = r"
if redis.call('SET', KEYS[1], 'pending', 'NX', 'PX', ARGV[1]) then
  return {'ours', 0}
end
local state = redis.call('GET', KEYS[1])
if not state then return {'gone', 0} end
return {state, redis.call('PTTL', KEYS[1])}
";

/// Whose turn it is to poll a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// This replica polls (it holds the lock).
    Ours,
    /// Another replica is polling right now.
    Pending,
    /// Another replica polled; its result stays good for this long.
    Done { fresh_for: Duration },
    /// Redis did not answer: poll (local single-flight only).
    Unknown,
}

pub struct PollLock {
    script: Script,
}

impl Default for PollLock {
    fn default() -> PollLock {
        PollLock {
            script: Script::new(TAKE),
        }
    }
}

fn lock_key(cluster: &Cluster, task_id: &str) -> String {
    cluster.key(&format!("poll:{task_id}"))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl PollLock {
    /// Tries to take the task's poll; `hold` bounds how long a crashed holder blocks others.
    pub async fn take(&self, cluster: &Cluster, task_id: &str, hold: Duration) -> Turn {
        if !cluster.health.is_up() {
            return Turn::Unknown;
        }
        let mut connection = cluster.connection();
        let key = lock_key(cluster, task_id);
        let mut invocation = self.script.key(&key);
        invocation.arg(millis(hold));
        let answer: Result<(String, i64), _> = cluster
            .call("poll lock", invocation.invoke_async(&mut connection))
            .await;
        match answer {
            Ok((state, _)) if state == "ours" => Turn::Ours,
            Ok((state, _)) if state == "pending" => Turn::Pending,
            Ok((state, left)) if state == "done" => Turn::Done {
                fresh_for: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            },
            // Expired between the two steps, or unreadable: poll, as without Redis.
            _ => Turn::Unknown,
        }
    }

    /// Whether the task's poll is still pending elsewhere (false when unknown).
    pub async fn pending(&self, cluster: &Cluster, task_id: &str) -> bool {
        let mut connection = cluster.connection();
        let mut command = redis::cmd("GET");
        command.arg(lock_key(cluster, task_id));
        let get = command.query_async::<Option<String>>(&mut connection);
        matches!(cluster.call("poll lock state", get).await, Ok(Some(s)) if s == "pending")
    }

    /// The poll is stored: others use its result for `fresh_for` instead of polling.
    pub async fn done(&self, cluster: &Cluster, task_id: &str, fresh_for: Duration) {
        let mut connection = cluster.connection();
        let mut command = redis::cmd("SET");
        command
            .arg(lock_key(cluster, task_id))
            .arg("done")
            .arg("XX")
            .arg("PX")
            .arg(millis(fresh_for));
        let set = command.query_async::<Option<String>>(&mut connection);
        let _ = cluster.call("poll lock done", set).await;
    }
}
