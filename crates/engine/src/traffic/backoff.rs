//! Exponential backoff with full jitter, as Runway's SDKs do: 0.5 s · 2ⁿ capped at 8 s,
//! a uniform random wait below that; a provider's `Retry-After` wins.

use std::time::Duration;

use rand::Rng;

pub const BASE: Duration = Duration::from_millis(500);
pub const CAP: Duration = Duration::from_secs(8);
/// Longest `Retry-After` we honour inside one call; longer means "not now".
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The wait before retry number `attempt` (0 = the first retry).
pub fn delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(MAX_RETRY_AFTER);
    }
    let ceiling = BASE.saturating_mul(1u32 << attempt.min(16)).min(CAP);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_within_the_cap_and_honours_retry_after() {
        for attempt in 0..20 {
            let d = delay(attempt, None);
            assert!(d <= BASE.saturating_mul(1 << attempt.min(16)).min(CAP));
        }
        assert_eq!(
            delay(3, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(delay(0, Some(Duration::from_secs(999))), MAX_RETRY_AFTER);
    }
}
