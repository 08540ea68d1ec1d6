//! Deadline arithmetic shared by the engines: saturating, so an absurd duration means
//! "as late (or early) as can be" instead of an error or a panic.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// `now + d`, saturating at the latest representable time.
pub(crate) fn later(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `now - d`, saturating at the earliest representable time.
pub(crate) fn earlier(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate() {
        let now = Utc::now();
        assert_eq!(later(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(earlier(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn ordinary_durations_are_exact() {
        let now = Utc::now();
        let d = Duration::from_nanos(1_500_000_001);
        assert_eq!(earlier(later(now, d), d), now);
    }
}
