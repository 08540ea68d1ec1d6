//! Providers that refused a create for capacity (HTTP 429, a spent rate budget) get no
//! dispatch until their cooldown ends, so the queue does not hammer a full provider with
//! creates it will refuse. Per process: another replica that has not seen the refusal may
//! send one more, which is refused and requeued the same way.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::traffic::backoff;

/// The shortest rest: a jittered backoff may come out near zero, and a queue that retries a
/// full provider at once only spins.
const MIN_REST: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
pub struct Cooldowns {
    /// Per provider: refusals in a row and when the cooldown ends.
    providers: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Cooldowns {
    /// Records a refusal; returns how long the provider now rests. The provider's own
    /// `Retry-After` wins; otherwise the wait grows with refusals in a row.
    pub fn refused(&self, provider: &str, retry_after: Option<Duration>) -> Duration {
        let mut providers = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (strikes, until) = providers
            .entry(provider.to_string())
            .or_insert((0, Instant::now()));
        let rest = backoff::delay(*strikes, retry_after).max(MIN_REST);
        *strikes = strikes.saturating_add(1);
        *until = Instant::now() + rest;
        rest
    }

    /// The provider accepted a create: no more rest.
    pub fn accepted(&self, provider: &str) {
        let mut providers = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        providers.remove(provider);
    }

    pub fn resting(&self, provider: &str, now: Instant) -> bool {
        let providers = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        providers
            .get(provider)
            .is_some_and(|(_, until)| *until > now)
    }

    /// When the first current rest ends (the dispatcher looks again then).
    pub fn next_end(&self, now: Instant) -> Option<Instant> {
        let providers = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        providers
            .values()
            .map(|(_, until)| *until)
            .filter(|until| *until > now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_refusal_rests_the_provider_until_retry_after_and_an_acceptance_ends_it() {
        let cooldowns = Cooldowns::default();
        let rest = cooldowns.refused("p", Some(Duration::from_secs(3)));
        assert_eq!(rest, Duration::from_secs(3));
        assert!(cooldowns.resting("p", Instant::now()));
        assert!(!cooldowns.resting("other", Instant::now()));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(!cooldowns.resting("p", Instant::now()));
        cooldowns.refused("p", None);
        assert!(cooldowns.resting("p", Instant::now()));
        cooldowns.accepted("p");
        assert!(!cooldowns.resting("p", Instant::now()));
        assert_eq!(cooldowns.next_end(Instant::now()), None);
    }
}
