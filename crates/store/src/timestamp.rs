//! Times as 64-bit Unix nanoseconds (SQLite INTEGER, PostgreSQL BIGINT), shared by the SQL
//! engines so both order and round-trip times alike: they sort numerically and round-trip exactly for
//! 1677-09-21 to 2262-04-11; times outside that saturate to its ends.

use chrono::{DateTime, Utc};

pub(crate) fn to_nanos(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt()
        .unwrap_or(if time.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
}

pub(crate) fn from_nanos(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanoseconds_round_trip_exactly() {
        let t = DateTime::from_timestamp(1_790_000_000, 123_456_789).unwrap();
        assert_eq!(from_nanos(to_nanos(t)), t);
        let before_epoch = DateTime::from_timestamp(-86_400, 1).unwrap();
        assert_eq!(from_nanos(to_nanos(before_epoch)), before_epoch);
    }

    #[test]
    fn out_of_range_times_saturate_in_order() {
        assert_eq!(to_nanos(DateTime::<Utc>::MAX_UTC), i64::MAX);
        assert_eq!(to_nanos(DateTime::<Utc>::MIN_UTC), i64::MIN);
    }
}
