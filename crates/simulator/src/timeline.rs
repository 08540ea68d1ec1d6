//! Task timelines: how many tasks were unfinished at once, from their records.

use crate::task::TaskRecord;

/// The most tasks that were unfinished at the same moment, over `records`, counting only
/// those of `provider` (a wire name: `comet_compat`, `comet_official`, `runway`,
/// `makevid`) when given.
///
/// Each task is unfinished over `[created_unix_ms, finished_unix_ms)`; one not finished
/// when its record was read is unfinished from its create on. A task that ends at the
/// same ms as another starts does not overlap it, and one that finished at its create
/// (an empty span) counts nowhere.
pub fn max_unfinished_at_once(records: &[TaskRecord], provider: Option<&str>) -> usize {
    // (ms, +1 for a start / -1 for an end); ends sort before starts at the same ms.
    let mut events: Vec<(u64, i8)> = Vec::with_capacity(records.len() * 2);
    for record in records {
        if provider.is_some_and(|p| p != record.provider) {
            continue;
        }
        let start = record.created_unix_ms;
        match record.finished_unix_ms {
            Some(end) if end <= start => {}
            Some(end) => {
                events.push((start, 1));
                events.push((end, -1));
            }
            None => events.push((start, 1)),
        }
    }
    events.sort_unstable();
    let (mut now, mut most) = (0usize, 0usize);
    for (_, change) in events {
        if change > 0 {
            now += 1;
            most = most.max(now);
        } else {
            // Every end belongs to a span that started strictly earlier, already counted.
            now = now.saturating_sub(1);
        }
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(provider: &str, created: u64, finished: Option<u64>) -> TaskRecord {
        TaskRecord {
            provider: provider.to_owned(),
            polls: 0,
            poll_times_ms: Vec::new(),
            cancels: 0,
            body: serde_json::Value::Null,
            headers: Vec::new(),
            created_unix_ms: created,
            finished_unix_ms: finished,
            output_gets: 0,
            output_gets_by_file: Default::default(),
            output_heads: 0,
            outputs_completed: 0,
        }
    }

    #[test]
    fn nothing_is_zero() {
        assert_eq!(max_unfinished_at_once(&[], None), 0);
        assert_eq!(max_unfinished_at_once(&[], Some("runway")), 0);
    }

    #[test]
    fn overlapping_spans_count_together() {
        let r = [
            record("runway", 0, Some(100)),
            record("runway", 50, Some(150)),
            record("runway", 60, Some(70)),
            record("runway", 120, Some(200)),
        ];
        // 60..70: all of the first three.
        assert_eq!(max_unfinished_at_once(&r, None), 3);
    }

    #[test]
    fn an_end_and_a_start_at_the_same_ms_do_not_overlap() {
        let chain = [
            record("runway", 0, Some(100)),
            record("runway", 100, Some(200)),
            record("runway", 200, Some(300)),
        ];
        assert_eq!(max_unfinished_at_once(&chain, None), 1);
        // Order of the records does not matter.
        let reversed: Vec<TaskRecord> = chain.iter().rev().cloned().collect();
        assert_eq!(max_unfinished_at_once(&reversed, None), 1);
        let touching = [record("runway", 0, Some(100)), record("runway", 99, None)];
        assert_eq!(max_unfinished_at_once(&touching, None), 2);
    }

    #[test]
    fn unfinished_tasks_stay_open() {
        let r = [
            record("makevid", 0, None),
            record("makevid", 1_000, Some(2_000)),
            record("makevid", 5_000, None),
        ];
        assert_eq!(max_unfinished_at_once(&r, None), 2);
        let all_open = [
            record("makevid", 10, None),
            record("makevid", 10, None),
            record("makevid", 10, None),
        ];
        assert_eq!(max_unfinished_at_once(&all_open, None), 3);
    }

    #[test]
    fn same_start_same_end_all_overlap() {
        let r = [record("runway", 5, Some(9)), record("runway", 5, Some(9))];
        assert_eq!(max_unfinished_at_once(&r, None), 2);
    }

    #[test]
    fn empty_spans_count_nowhere() {
        let r = [
            record("runway", 10, Some(10)),
            record("runway", 10, Some(20)),
            record("runway", 15, Some(15)),
        ];
        assert_eq!(max_unfinished_at_once(&r, None), 1);
        assert_eq!(
            max_unfinished_at_once(&[record("runway", 10, Some(10))], None),
            0
        );
    }

    #[test]
    fn the_provider_filter_keeps_one_provider() {
        let r = [
            record("runway", 0, Some(100)),
            record("makevid", 10, Some(90)),
            record("runway", 20, Some(80)),
            record("makevid", 30, Some(70)),
            record("makevid", 40, None),
        ];
        assert_eq!(max_unfinished_at_once(&r, None), 5);
        assert_eq!(max_unfinished_at_once(&r, Some("runway")), 2);
        assert_eq!(max_unfinished_at_once(&r, Some("makevid")), 3);
        assert_eq!(max_unfinished_at_once(&r, Some("comet_compat")), 0);
    }

    #[test]
    fn old_records_without_times_still_parse() {
        let old = serde_json::json!({
            "provider": "runway",
            "polls": 1,
            "cancels": 0,
            "body": {},
            "headers": [],
        });
        let r: TaskRecord = serde_json::from_value(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.created_unix_ms, r.finished_unix_ms), (0, None));
    }
}
