//! Durations as the file writes them: a whole number and a unit (`250ms`, `2s`, `5m`, `2h`,
//! `1d`).

use std::time::Duration;

/// Parses `250ms`, `2s`, `5m`, `2h` or `1d`. The error says what is accepted.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("'{text}' is not a duration: write a whole number and a unit, e.g. 250ms, 2s, 5m, 2h, 1d")
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(bad());
    }
    let n: u64 = number.parse().map_err(|_| bad())?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("'{text}' is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_anything_else() {
        for text in [
            "",
            "30",
            "s",
            "2 s",
            " 2s",
            "2s ",
            "1.5s",
            "-1s",
            "2sec",
            "2S",
            "1h30m",
            "ms",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} was accepted");
        }
        assert!(parse_duration("18446744073709551615d").is_err());
    }

    proptest! {
        #[test]
        fn seconds_round_trip(n in 0u64..1_000_000) {
            prop_assert_eq!(parse_duration(&format!("{n}s")), Ok(Duration::from_secs(n)));
        }

        #[test]
        fn never_panics(text in ".*") {
            let _ = parse_duration(&text);
        }
    }
}
