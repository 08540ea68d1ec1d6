//! A circuit breaker per provider: an error ratio over a rolling window opens it; after a
//! cool-down one probe is let through (half-open), and its outcome closes or re-opens it.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use taskgate_config::CircuitSettings;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    /// `probe_since`: when the one probe allowed through started, if one is out.
    HalfOpen {
        probe_since: Option<Instant>,
    },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Outcomes in the window: (when, failed).
    outcomes: VecDeque<(Instant, bool)>,
    /// Failures among `outcomes`, kept as they come and go (a count per call would be
    /// linear in the window at high rates).
    failures: usize,
}

#[derive(Debug)]
pub struct Circuit {
    settings: CircuitSettings,
    inner: Mutex<Inner>,
}

impl Circuit {
    pub fn new(settings: CircuitSettings) -> Circuit {
        Circuit {
            settings,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                outcomes: VecDeque::new(),
                failures: 0,
            }),
        }
    }

    pub fn settings(&self) -> CircuitSettings {
        self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// May a call go out now? In half-open, only one probe at a time (a probe that never
    /// reported back is replaced after `open_for`).
    pub fn admit(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        match inner.phase {
            Phase::Closed => true,
            Phase::Open { until } if now < until => false,
            Phase::Open { .. } => {
                inner.phase = Phase::HalfOpen {
                    probe_since: Some(now),
                };
                true
            }
            Phase::HalfOpen { probe_since } => {
                let free = probe_since.is_none_or(|since| now >= since + self.settings.open_for);
                if free {
                    inner.phase = Phase::HalfOpen {
                        probe_since: Some(now),
                    };
                }
                free
            }
        }
    }

    /// Records the outcome of an admitted call.
    pub fn record(&self, now: Instant, failed: bool) {
        let mut inner = self.lock();
        match inner.phase {
            Phase::HalfOpen { .. } | Phase::Open { .. } => {
                inner.outcomes.clear();
                inner.failures = 0;
                inner.phase = if failed {
                    Phase::Open {
                        until: now + self.settings.open_for,
                    }
                } else {
                    Phase::Closed
                };
            }
            Phase::Closed => {
                inner.outcomes.push_back((now, failed));
                inner.failures += usize::from(failed);
                let window_start = now.checked_sub(self.settings.window);
                while let (Some((at, _)), Some(start)) = (inner.outcomes.front(), window_start) {
                    if *at >= start {
                        break;
                    }
                    if let Some((_, true)) = inner.outcomes.pop_front() {
                        inner.failures -= 1;
                    }
                }
                let calls = inner.outcomes.len();
                let failures = inner.failures;
                let ratio = failures as f64 / calls.max(1) as f64;
                if calls >= self.settings.min_calls as usize && ratio >= self.settings.error_ratio {
                    inner.outcomes.clear();
                    inner.failures = 0;
                    inner.phase = Phase::Open {
                        until: now + self.settings.open_for,
                    };
                }
            }
        }
    }

    pub fn state(&self, now: Instant) -> CircuitState {
        match self.lock().phase {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { until } if now < until => CircuitState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn circuit() -> Circuit {
        Circuit::new(CircuitSettings {
            window: Duration::from_secs(10),
            min_calls: 4,
            error_ratio: 0.5,
            open_for: Duration::from_secs(5),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_error_ratio_then_half_opens_and_closes_on_a_good_probe() {
        let c = circuit();
        let t0 = Instant::now();
        c.record(t0, false);
        c.record(t0, true);
        c.record(t0, false);
        assert_eq!(c.state(t0), CircuitState::Closed);
        c.record(t0, true);
        assert_eq!(c.state(t0), CircuitState::Open);
        assert!(!c.admit(t0 + Duration::from_secs(4)));
        let later = t0 + Duration::from_secs(5);
        assert!(c.admit(later));
        assert!(!c.admit(later), "only one probe at a time");
        c.record(later, false);
        assert_eq!(c.state(later), CircuitState::Closed);
        assert!(c.admit(later));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_and_old_outcomes_leave_the_window() {
        let c = circuit();
        let t0 = Instant::now();
        for _ in 0..4 {
            c.record(t0, true);
        }
        let t1 = t0 + Duration::from_secs(5);
        assert!(c.admit(t1));
        c.record(t1, true);
        assert_eq!(c.state(t1), CircuitState::Open);
        let t2 = t1 + Duration::from_secs(5);
        assert!(c.admit(t2));
        c.record(t2, false);
        // Three failures long ago and one now: the old ones are outside the window.
        let c = circuit();
        for _ in 0..3 {
            c.record(t0, true);
        }
        let t3 = t0 + Duration::from_secs(11);
        c.record(t3, true);
        assert_eq!(c.state(t3), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_is_replaced_after_open_for() {
        let c = circuit();
        let t0 = Instant::now();
        for _ in 0..4 {
            c.record(t0, true);
        }
        let t1 = t0 + Duration::from_secs(5);
        assert!(c.admit(t1));
        assert!(!c.admit(t1 + Duration::from_secs(1)));
        assert!(c.admit(t1 + Duration::from_secs(5)));
    }
}
