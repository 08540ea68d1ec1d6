//! Rate budgets: one GCRA limiter (governor) per tenant or provider, kept across reloads
//! while the limit stays the same.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use taskgate_config::RateLimit;

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// One GCRA budget.
pub struct Budget {
    limit: RateLimit,
    limiter: Limiter,
    clock: DefaultClock,
}

/// What a budget says about one more call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { remaining: u32 },
    Denied { retry_after: Duration },
}

fn quota(limit: RateLimit) -> Quota {
    let count = limit.count.max(1);
    let interval = (limit.period / count).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Budget {
    pub fn new(limit: RateLimit) -> Budget {
        let clock = DefaultClock::default();
        Budget {
            limit,
            limiter: RateLimiter::direct_with_clock(quota(limit), clock.clone())
                .with_middleware::<StateInformationMiddleware>(),
            clock,
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one unit if there is one.
    pub fn check(&self) -> Decision {
        match self.limiter.check() {
            Ok(state) => Decision::Allowed {
                remaining: state.remaining_burst_capacity(),
            },
            Err(not_until) => Decision::Denied {
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    /// Takes one unit, waiting up to `max_wait` for one to become free. On failure, how long
    /// until one would be.
    pub async fn acquire(&self, max_wait: Duration) -> Result<(), Duration> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            match self.check() {
                Decision::Allowed { .. } => return Ok(()),
                Decision::Denied { retry_after } => {
                    let now = tokio::time::Instant::now();
                    if now + retry_after > deadline {
                        return Err(retry_after);
                    }
                    tokio::time::sleep(retry_after).await;
                }
            }
        }
    }

    /// Seconds until the budget is full again when `remaining` units are left.
    pub fn seconds_to_full(&self, remaining: u32) -> u64 {
        seconds_to_full(self.limit, remaining)
    }
}

/// Seconds until a budget under `limit` is full again when `remaining` units are left.
pub fn seconds_to_full(limit: RateLimit, remaining: u32) -> u64 {
    let used = u64::from(limit.burst.saturating_sub(remaining));
    let per_unit = limit.period.as_secs_f64() / f64::from(limit.count.max(1));
    (used as f64 * per_unit).ceil() as u64
}

/// Budgets by key (`tenant:acme`, `provider:makevid`).
#[derive(Default)]
pub struct Budgets {
    by_key: Mutex<HashMap<String, Arc<Budget>>>,
}

impl Budgets {
    /// The budget for `key` under `limit`; a changed limit starts a fresh budget.
    pub fn get(&self, key: &str, limit: RateLimit) -> Arc<Budget> {
        let mut map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(key) {
            Some(b) if b.limit() == limit => b.clone(),
            _ => {
                let budget = Arc::new(Budget::new(limit));
                map.insert(key.to_string(), budget.clone());
                budget
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(count: u32, secs: u64, burst: u32) -> RateLimit {
        RateLimit {
            count,
            period: Duration::from_secs(secs),
            burst,
        }
    }

    #[test]
    fn allows_the_burst_then_denies_with_a_wait() {
        // One a minute: no token comes back while the test runs, however slowly.
        let b = Budget::new(limit(1, 60, 3));
        for expected in [2, 1, 0] {
            assert_eq!(
                b.check(),
                Decision::Allowed {
                    remaining: expected
                }
            );
        }
        match b.check() {
            Decision::Denied { retry_after } => {
                assert!(retry_after <= Duration::from_secs(60) && retry_after > Duration::ZERO)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn budgets_survive_when_the_limit_is_unchanged() {
        let budgets = Budgets::default();
        let a = budgets.get("tenant:a", limit(5, 1, 5));
        assert!(Arc::ptr_eq(&a, &budgets.get("tenant:a", limit(5, 1, 5))));
        assert!(!Arc::ptr_eq(&a, &budgets.get("tenant:a", limit(6, 1, 6))));
    }
}
