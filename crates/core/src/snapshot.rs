//! What one poll of a provider says about a task, and how it moves the stored task.

use chrono::{DateTime, Utc};

use crate::progress::Progress;
use crate::task::{Output, Task, TaskError, TaskStatus};

/// A provider's answer to a poll, normalized but not yet applied.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// `None` when the provider's word is unknown: the task keeps its last status.
    pub status: Option<TaskStatus>,
    /// The provider's own status word, kept for debugging.
    pub provider_status: String,
    /// `None` when the provider gave no readable progress: the last known one stays.
    pub progress: Option<Progress>,
    pub outputs: Vec<Output>,
    pub error: Option<TaskError>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Maps a provider status word to the normalized status (the table in `providers.md` §5).
pub fn status_from_word(word: &str) -> Option<TaskStatus> {
    match word.trim().to_ascii_uppercase().as_str() {
        "NOT_START" | "SUBMITTED" | "QUEUED" | "PENDING" | "THROTTLED" => Some(TaskStatus::Queued),
        "IN_PROGRESS" | "RUNNING" => Some(TaskStatus::Running),
        "SUCCESS" | "SUCCEEDED" => Some(TaskStatus::Succeeded),
        "FAILURE" | "FAILED" | "ERROR" => Some(TaskStatus::Failed),
        "CANCELLED" | "CANCELED" => Some(TaskStatus::Canceled),
        _ => None,
    }
}

impl Snapshot {
    /// Adds an output unless one with the same URL is there already.
    pub fn push_output(&mut self, output: Output) {
        if output.url.is_empty() || self.outputs.iter().any(|o| o.url == output.url) {
            return;
        }
        self.outputs.push(output);
    }
}

impl Task {
    /// Moves the task forward by what a poll said. Never backwards: a finished task stays
    /// as it is, status never returns to an earlier stage, progress never decreases.
    /// Returns whether anything a client can see changed.
    pub fn apply(&mut self, snap: &Snapshot, now: DateTime<Utc>) -> bool {
        if self.is_terminal() {
            return false;
        }
        let before = self.clone();
        let status = match snap.status {
            Some(s) if s.rank() >= self.status.rank() => s,
            _ => self.status,
        };
        if !snap.provider_status.is_empty() {
            self.provider_status = Some(snap.provider_status.clone());
        }
        if let Some(p) = snap.progress {
            if self.progress.is_none_or(|old| p > old) {
                self.progress = Some(p);
            }
        }
        if self.started_at.is_none() {
            // A task canceled while queued never started: only the provider's own time counts.
            self.started_at = match status {
                TaskStatus::Queued => None,
                TaskStatus::Canceled => snap.started_at,
                _ => Some(snap.started_at.unwrap_or(now)),
            };
        }
        match status {
            TaskStatus::Succeeded => {
                self.progress = Some(Progress::DONE);
                self.outputs = snap.outputs.clone();
            }
            TaskStatus::Failed => {
                self.error = Some(snap.error.clone().unwrap_or_else(|| {
                    TaskError::new(
                        TaskError::PROVIDER_FAILED,
                        "the provider reported a failure",
                    )
                }));
            }
            _ => {}
        }
        if status.is_terminal() {
            self.finished_at = Some(snap.finished_at.unwrap_or(now));
        }
        self.status = status;
        let changed = *self != before;
        if changed {
            self.updated_at = now;
        }
        changed
    }

    /// Ends an unfinished task as failed by the gateway's own decision (gave up, lost upstream).
    pub fn fail(&mut self, error: TaskError, now: DateTime<Utc>) -> bool {
        if self.is_terminal() {
            return false;
        }
        self.status = TaskStatus::Failed;
        self.error = Some(error);
        self.finished_at = Some(now);
        self.updated_at = now;
        true
    }

    /// Marks an unfinished task canceled after the provider accepted the cancel.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> bool {
        if self.is_terminal() {
            return false;
        }
        self.status = TaskStatus::Canceled;
        self.provider_status = Some("CANCELLED".to_string());
        self.finished_at = Some(now);
        self.updated_at = now;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{OutputKind, TaskType};
    use chrono::TimeZone;
    use serde_json::Map;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .unwrap_or_default()
    }

    fn task() -> Task {
        Task::accepted(
            "task_1".into(),
            TaskType::TextToVideo,
            "p".into(),
            "u1".into(),
            Map::new(),
            at(0),
        )
    }

    fn snap(status: Option<TaskStatus>, progress: Option<f64>) -> Snapshot {
        Snapshot {
            status,
            provider_status: "X".into(),
            progress: progress.and_then(Progress::new),
            ..Snapshot::default()
        }
    }

    #[test]
    fn never_moves_backwards() {
        let mut t = task();
        assert!(t.apply(&snap(Some(TaskStatus::Running), Some(0.5)), at(1)));
        assert_eq!(t.started_at, Some(at(1)));
        t.apply(&snap(Some(TaskStatus::Queued), Some(0.2)), at(2));
        assert_eq!(t.status, TaskStatus::Running);
        assert_eq!(t.progress.map(Progress::value), Some(0.5));
    }

    #[test]
    fn unknown_word_keeps_status_and_records_word() {
        let mut t = task();
        t.apply(&snap(Some(TaskStatus::Running), None), at(1));
        t.apply(&snap(None, None), at(2));
        assert_eq!(t.status, TaskStatus::Running);
        assert_eq!(t.provider_status.as_deref(), Some("X"));
    }

    #[test]
    fn success_sets_full_progress_outputs_and_finish() {
        let mut t = task();
        let mut s = snap(Some(TaskStatus::Succeeded), Some(0.3));
        s.push_output(Output::new("https://x/1.mp4", OutputKind::Video));
        s.push_output(Output::new("https://x/1.mp4", OutputKind::Video));
        t.apply(&s, at(5));
        assert_eq!(t.progress, Some(Progress::DONE));
        assert_eq!(t.outputs.len(), 1);
        assert_eq!(t.finished_at, Some(at(5)));
        assert!(!t.apply(&snap(Some(TaskStatus::Failed), None), at(6)));
        assert_eq!(t.status, TaskStatus::Succeeded);
    }

    #[test]
    fn failure_without_code_is_provider_failed() {
        let mut t = task();
        t.apply(&snap(Some(TaskStatus::Failed), None), at(3));
        assert_eq!(t.error.map(|e| e.code), Some("provider_failed".to_string()));
    }

    #[test]
    fn maps_every_documented_word() {
        for (word, status) in [
            ("NOT_START", TaskStatus::Queued),
            ("SUBMITTED", TaskStatus::Queued),
            ("QUEUED", TaskStatus::Queued),
            ("PENDING", TaskStatus::Queued),
            ("THROTTLED", TaskStatus::Queued),
            ("IN_PROGRESS", TaskStatus::Running),
            ("RUNNING", TaskStatus::Running),
            ("SUCCESS", TaskStatus::Succeeded),
            ("SUCCEEDED", TaskStatus::Succeeded),
            ("FAILURE", TaskStatus::Failed),
            ("FAILED", TaskStatus::Failed),
            ("ERROR", TaskStatus::Failed),
            ("CANCELLED", TaskStatus::Canceled),
            ("CANCELED", TaskStatus::Canceled),
        ] {
            assert_eq!(status_from_word(word), Some(status), "{word}");
        }
        for word in ["UNKNOWN", "", "MYSTERY"] {
            assert_eq!(status_from_word(word), None, "{word}");
        }
    }
}
