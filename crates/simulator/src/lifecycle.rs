//! A task's state at a moment, computed from its script and the time since it was created.

use crate::script::{Outcome, Script};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Phase {
    /// CometAPI dialects: the id answers `task_not_exist`.
    NotVisible,
    /// First half of the queued phase (`SUBMITTED` in the CometAPI words).
    Submitted,
    /// Second half of the queued phase (`QUEUED`).
    Queued,
    /// Running, with the fraction done in `[0, 1)`.
    Running(f64),
    Succeeded,
    Failed,
    Cancelled,
}

impl Phase {
    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed | Phase::Cancelled)
    }

    /// Progress in `[0, 1]`: 0 before running, 1 once finished.
    pub(crate) fn fraction(self) -> f64 {
        match self {
            Phase::NotVisible | Phase::Submitted | Phase::Queued => 0.0,
            Phase::Running(f) => f,
            Phase::Succeeded | Phase::Failed | Phase::Cancelled => 1.0,
        }
    }
}

/// How a task was ended from outside its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Finished(Outcome),
    Cancelled,
}

/// An ending and when it happened, in ms since the task was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forced {
    pub ending: Ending,
    pub at_ms: u64,
}

/// The task at one moment. Times are ms since the task was created.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Snapshot {
    pub phase: Phase,
    pub start_ms: Option<u64>,
    pub finish_ms: Option<u64>,
    /// When the visible state last changed (makevid's `updatedAt`).
    pub changed_ms: u64,
    /// The moment this snapshot describes.
    pub at_ms: u64,
}

/// The state at `elapsed_ms` after create. `window` says whether the not-visible window
/// applies (CometAPI dialects only).
pub(crate) fn snapshot(
    script: &Script,
    window: bool,
    elapsed_ms: u64,
    forced: Option<Forced>,
) -> Snapshot {
    let natural = natural(script, window, elapsed_ms);
    let Some(forced) = forced else {
        return natural;
    };
    if elapsed_ms < forced.at_ms {
        return natural;
    }
    let at_end = Some(natural_start(script, window)).filter(|&s| s <= forced.at_ms);
    let (phase, start_ms) = match forced.ending {
        Ending::Finished(Outcome::Succeed) => (Phase::Succeeded, at_end.or(Some(forced.at_ms))),
        Ending::Finished(Outcome::Fail) => (Phase::Failed, at_end.or(Some(forced.at_ms))),
        Ending::Cancelled => (Phase::Cancelled, at_end),
    };
    Snapshot {
        phase,
        start_ms,
        finish_ms: Some(forced.at_ms),
        changed_ms: forced.at_ms,
        at_ms: elapsed_ms,
    }
}

fn natural_start(script: &Script, window: bool) -> u64 {
    let visible = if window { script.not_visible_ms } else { 0 };
    visible.saturating_add(script.queued_ms)
}

fn natural(script: &Script, window: bool, t: u64) -> Snapshot {
    let visible = if window { script.not_visible_ms } else { 0 };
    let half = visible.saturating_add(script.queued_ms / 2);
    let start = natural_start(script, window);
    let finish = start.saturating_add(script.run_ms);
    let (phase, changed_ms) = if t < visible {
        (Phase::NotVisible, 0)
    } else if t < half {
        (Phase::Submitted, visible)
    } else if t < start {
        (Phase::Queued, half)
    } else if t < finish {
        let done = (t - start) as f64 / script.run_ms.max(1) as f64;
        (Phase::Running(done.clamp(0.0, 1.0)), t)
    } else {
        let end = match script.outcome {
            Outcome::Succeed => Phase::Succeeded,
            Outcome::Fail => Phase::Failed,
        };
        (end, finish)
    };
    Snapshot {
        phase,
        start_ms: (t >= start).then_some(start),
        finish_ms: (t >= finish).then_some(finish),
        changed_ms,
        at_ms: t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> Script {
        Script::timed(100, 100, 200)
    }

    #[test]
    fn phases_follow_the_clock() {
        let s = script();
        let at = |t| snapshot(&s, true, t, None).phase;
        assert_eq!(at(0), Phase::NotVisible);
        assert_eq!(at(120), Phase::Submitted);
        assert_eq!(at(160), Phase::Queued);
        assert_eq!(at(300), Phase::Running(0.5));
        assert_eq!(at(400), Phase::Succeeded);
        let snap = snapshot(&s, true, 500, None);
        assert_eq!((snap.start_ms, snap.finish_ms), (Some(200), Some(400)));
    }

    #[test]
    fn no_window_outside_cometapi() {
        let s = script();
        assert_eq!(snapshot(&s, false, 0, None).phase, Phase::Submitted);
        assert_eq!(snapshot(&s, false, 150, None).phase, Phase::Running(0.25));
    }

    #[test]
    fn failing_script_fails() {
        let s = Script {
            outcome: Outcome::Fail,
            ..script()
        };
        assert_eq!(snapshot(&s, true, 1000, None).phase, Phase::Failed);
    }

    #[test]
    fn forced_endings_win_from_their_moment() {
        let s = script();
        let cancel = Some(Forced {
            ending: Ending::Cancelled,
            at_ms: 150,
        });
        assert_eq!(snapshot(&s, true, 149, cancel).phase, Phase::Submitted);
        let snap = snapshot(&s, true, 1000, cancel);
        assert_eq!(snap.phase, Phase::Cancelled);
        assert_eq!((snap.start_ms, snap.finish_ms), (None, Some(150)));
        let fail = Some(Forced {
            ending: Ending::Finished(Outcome::Fail),
            at_ms: 50,
        });
        let snap = snapshot(&s, true, 60, fail);
        assert_eq!(snap.phase, Phase::Failed);
        assert_eq!(snap.start_ms, Some(50));
    }
}
