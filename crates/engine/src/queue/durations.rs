//! How long a task holds a provider's slot, lately: from its dispatch to its end, as a
//! moving average per provider. Feeds `queue.estimated_start_at`. Per process: each replica
//! learns from the tasks it sees finish.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Weight of the newest duration in the average.
const NEWEST: f64 = 0.2;

#[derive(Debug, Default)]
pub struct SlotDurations {
    seconds: Mutex<HashMap<String, f64>>,
}

impl SlotDurations {
    pub fn record(&self, provider: &str, held: Duration) {
        let sample = held.as_secs_f64();
        let mut seconds = self.seconds.lock().unwrap_or_else(PoisonError::into_inner);
        // Called for every task that ends: no allocation once the provider is known.
        match seconds.get_mut(provider) {
            Some(avg) => *avg += NEWEST * (sample - *avg),
            None => {
                seconds.insert(provider.to_string(), sample);
            }
        }
    }

    pub fn average(&self, provider: &str) -> Option<Duration> {
        let seconds = self.seconds.lock().unwrap_or_else(PoisonError::into_inner);
        seconds
            .get(provider)
            .and_then(|s| Duration::try_from_secs_f64(*s).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_moves_toward_new_durations() {
        let durations = SlotDurations::default();
        assert_eq!(durations.average("p"), None);
        durations.record("p", Duration::from_secs(10));
        assert_eq!(durations.average("p"), Some(Duration::from_secs(10)));
        durations.record("p", Duration::from_secs(20));
        assert_eq!(durations.average("p"), Some(Duration::from_secs(12)));
    }
}
