//! How one simulated task lives: its timings, its outcome and the quirks its answers show.

use serde::{Deserialize, Serialize};

use crate::faults::FaultRule;

/// The script of a task. Every field is optional on the wire; missing fields take the
/// defaults below (or, for a per-task `sim` object, the current scenario's values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Script {
    /// CometAPI dialects only: how long a fresh id answers `task_not_exist`.
    pub not_visible_ms: u64,
    /// How long the task waits (SUBMITTED/QUEUED, PENDING or THROTTLED).
    pub queued_ms: u64,
    /// How long the task runs; progress rises linearly over it.
    pub run_ms: u64,
    /// How the task ends when nothing forces it.
    pub outcome: Outcome,
    /// Runway's dotted failure code on failure.
    pub failure_code: String,
    /// The failure text (`fail_reason`, `failure`, `error`).
    pub failure_message: String,
    /// The queued phase shows `THROTTLED` instead of `PENDING` where the dialect has it.
    pub throttled: bool,
    /// CometAPI polls: the `{"code":"success",...}` envelope or the bare object.
    pub shape: Shape,
    /// CometAPI polls: where the output URL is written.
    pub output_field: OutputField,
    /// Overrides how progress is written; `None` = the dialect's documented form.
    pub progress_form: Option<ProgressForm>,
    /// Replaces the status word while running (to inject unknown words).
    pub status_word: Option<String>,
    /// The type of `code` in the compat create answer.
    pub create_code: CreateCode,
    /// Fault rules that apply to this task only.
    pub faults: Vec<FaultRule>,
    /// The size of the task's output file, served at the URL its succeeded polls name.
    pub output_bytes: u64,
    /// The status every request of the task's files answers; 200 serves them, anything
    /// else (e.g. 404, 503) answers that status without the file (outside 200..=599: 500).
    pub output_status: u16,
    /// The pause between two 64 KiB chunks of a file's body, to make a copy slow.
    pub output_chunk_delay_ms: u64,
    /// Replaces the `Content-Type` of the task's files (by default from the extension).
    pub output_content_type: Option<String>,
    /// Each of the task's files answers 503 to its first this-many GETs, then is served
    /// (HEADs are neither refused nor counted for this).
    pub output_fail_times: u32,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            not_visible_ms: 1000,
            queued_ms: 1000,
            run_ms: 3000,
            outcome: Outcome::Succeed,
            failure_code: "SAFETY.INPUT.TEXT".to_owned(),
            failure_message: "The prompt was flagged by the content moderation system.".to_owned(),
            throttled: false,
            shape: Shape::Wrapped,
            output_field: OutputField::ResultUrl,
            progress_form: None,
            status_word: None,
            create_code: CreateCode::Int,
            faults: Vec::new(),
            output_bytes: 64 * 1024,
            output_status: 200,
            output_chunk_delay_ms: 0,
            output_content_type: None,
            output_fail_times: 0,
        }
    }
}

impl Script {
    /// A script with the given phase lengths and every other field at its default.
    pub fn timed(not_visible_ms: u64, queued_ms: u64, run_ms: u64) -> Script {
        Script {
            not_visible_ms,
            queued_ms,
            run_ms,
            ..Script::default()
        }
    }

    /// Reads a per-task `sim` object: its fields replace those of `base`, the rest are kept.
    pub fn merged_over(base: &Script, overlay: serde_json::Value) -> Result<Script, String> {
        let serde_json::Value::Object(overlay) = overlay else {
            return Err("sim must be an object".to_owned());
        };
        let mut merged = match serde_json::to_value(base) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err("scenario is not serializable".to_owned()),
        };
        merged.extend(overlay);
        serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| format!("sim: {e}"))
    }
}

/// How a task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Succeed,
    Fail,
}

/// The CometAPI poll shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    #[default]
    Wrapped,
    Bare,
}

/// Where a CometAPI poll writes the output URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputField {
    /// `result_url` beside `status`.
    #[default]
    ResultUrl,
    /// `video_url` beside `status`.
    VideoUrl,
    /// `data.video_url` and `data.poster`.
    Nested,
}

/// How progress is written, overriding the dialect's documented form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressForm {
    /// `"45%"`.
    Percent,
    /// `0.45`.
    Float,
    /// `"0.45"`.
    RatioString,
    /// `null`.
    Null,
    /// 1.5 while running, in the dialect's own form (`"150%"`, `1.5`, `"1.5"`).
    Over,
    /// -0.5 while running, in the dialect's own form (`"-50%"`, `-0.5`, `"-0.5"`).
    Negative,
}

/// The `code` of the compat create answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateCode {
    /// `200` (documented).
    #[default]
    Int,
    /// `"200"`.
    String,
    /// `"success"`.
    Success,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn empty_object_is_the_default_script() {
        let s: Script = serde_json::from_str("{}").unwrap();
        assert_eq!(s, Script::default());
    }

    #[test]
    fn sim_object_overrides_only_its_fields() {
        let base = Script::timed(5, 6, 7);
        let s =
            Script::merged_over(&base, serde_json::json!({"outcome":"fail","run_ms":1})).unwrap();
        assert_eq!(s.outcome, Outcome::Fail);
        assert_eq!((s.not_visible_ms, s.queued_ms, s.run_ms), (5, 6, 1));
    }

    #[test]
    fn sim_object_steers_outputs() {
        let sim = serde_json::json!({
            "output_bytes": 1_048_576,
            "output_status": 503,
            "output_chunk_delay_ms": 20,
            "output_content_type": "application/octet-stream",
            "output_fail_times": 2,
        });
        let s = Script::merged_over(&Script::default(), sim).unwrap();
        assert_eq!((s.output_bytes, s.output_status), (1_048_576, 503));
        assert_eq!((s.output_chunk_delay_ms, s.output_fail_times), (20, 2));
        assert_eq!(
            s.output_content_type.as_deref(),
            Some("application/octet-stream")
        );
        let d = Script::default();
        assert_eq!((d.output_bytes, d.output_status), (65_536, 200));
    }

    #[test]
    fn bad_sim_object_is_an_error() {
        let base = Script::default();
        assert!(Script::merged_over(&base, serde_json::json!({"run_sm": 1})).is_err());
        assert!(Script::merged_over(&base, serde_json::json!({"outcome":"maybe"})).is_err());
        assert!(Script::merged_over(&base, serde_json::json!(3)).is_err());
    }
}
