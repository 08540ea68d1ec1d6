//! Byte ranges as HTTP `Range: bytes=...` states them (video players seek with them).
//!
//! The route parses the header; this resolves a range against the object's size with
//! RFC 9110's rules (an end past the object is clamped, a start past it is unsatisfiable), so
//! storage is only ever asked for bytes that exist.

use std::ops::Range;

/// One range of a `Range: bytes=` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last`, both inclusive.
    Inclusive { first: u64, last: u64 },
    /// `bytes=first-`: from `first` to the end.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The half-open byte range to read from an object of `size` bytes, or `None` when the
    /// range is not satisfiable (answer `416` with `Content-Range: bytes */size`).
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        let range = match self {
            ByteRange::Inclusive { first, last } if first <= last => {
                first..last.saturating_add(1).min(size)
            }
            ByteRange::Inclusive { .. } => return None,
            ByteRange::From(first) => first..size,
            ByteRange::Suffix(n) => size.saturating_sub(n)..size,
        };
        (range.start < range.end).then_some(range)
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange::*;

    #[test]
    fn resolves_like_rfc_9110() {
        assert_eq!(Inclusive { first: 0, last: 99 }.resolve(1000), Some(0..100));
        assert_eq!(
            Inclusive {
                first: 900,
                last: 5000
            }
            .resolve(1000),
            Some(900..1000)
        );
        assert_eq!(
            Inclusive {
                first: 0,
                last: u64::MAX
            }
            .resolve(10),
            Some(0..10)
        );
        assert_eq!(From(10).resolve(1000), Some(10..1000));
        assert_eq!(Suffix(100).resolve(1000), Some(900..1000));
        assert_eq!(Suffix(5000).resolve(1000), Some(0..1000));
    }

    #[test]
    fn unsatisfiable_ranges_are_none() {
        assert_eq!(
            Inclusive {
                first: 1000,
                last: 1001
            }
            .resolve(1000),
            None
        );
        assert_eq!(Inclusive { first: 5, last: 4 }.resolve(1000), None);
        assert_eq!(From(1000).resolve(1000), None);
        assert_eq!(Suffix(0).resolve(1000), None);
        assert_eq!(From(0).resolve(0), None);
    }
}
