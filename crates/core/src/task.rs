//! The normalized task: what every client sees, whatever provider runs it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::progress::Progress;

/// The kinds of work a task can do. Serialized in snake_case as in the API.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    TextToVideo,
    ImageToVideo,
    VideoToVideo,
    CharacterPerformance,
    TextToImage,
    Upscale,
}

impl TaskType {
    pub const ALL: [TaskType; 6] = [
        TaskType::TextToVideo,
        TaskType::ImageToVideo,
        TaskType::VideoToVideo,
        TaskType::CharacterPerformance,
        TaskType::TextToImage,
        TaskType::Upscale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::TextToVideo => "text_to_video",
            TaskType::ImageToVideo => "image_to_video",
            TaskType::VideoToVideo => "video_to_video",
            TaskType::CharacterPerformance => "character_performance",
            TaskType::TextToImage => "text_to_image",
            TaskType::Upscale => "upscale",
        }
    }

    pub fn parse(word: &str) -> Option<TaskType> {
        TaskType::ALL.into_iter().find(|t| t.as_str() == word)
    }

    /// The kind of output this type produces.
    pub fn output_kind(self) -> OutputKind {
        match self {
            TaskType::TextToImage => OutputKind::Image,
            _ => OutputKind::Video,
        }
    }
}

impl std::fmt::Display for TaskType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The normalized status. `succeeded`, `failed` and `canceled` are terminal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Canceled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Canceled => "canceled",
        }
    }

    pub fn parse(word: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Position in the life of a task; a refresh never moves a task to a lower rank.
    pub(crate) fn rank(self) -> u8 {
        match self {
            TaskStatus::Queued => 0,
            TaskStatus::Running => 1,
            _ => 2,
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Video,
    Image,
}

/// One produced file. `kind` is always present, and `url` except for an output whose stored
/// copy expired. With durable outputs, the gateway's copy is described by the fields after
/// `size_bytes`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// Where to download it: the gateway's URL for a stored copy (signed, or presigned by
    /// the storage), else the provider's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    pub kind: OutputKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preview_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The provider's own URL (it may expire), once the gateway copied or tried to copy it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_url: Option<String>,
    /// Whether the gateway holds a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<bool>,
    /// Hex SHA-256 of the stored bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The stored copy's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// When `url` stops working (read the task again for a fresh one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Why the copy finally failed (`stored: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_error: Option<String>,
    /// The stored copy was deleted after `outputs.keep_for`: no `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired: Option<bool>,
}

impl Output {
    pub fn new(url: impl Into<String>, kind: OutputKind) -> Output {
        Output {
            url: url.into(),
            kind,
            preview_urls: Vec::new(),
            width: None,
            height: None,
            duration_s: None,
            fps: None,
            size_bytes: None,
            provider_url: None,
            stored: None,
            sha256: None,
            content_type: None,
            expires_at: None,
            copy_error: None,
            expired: None,
        }
    }
}

/// Why a task failed: the provider's failure code where it gives one, else `provider_failed`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    pub code: String,
    pub message: String,
}

impl TaskError {
    pub const PROVIDER_FAILED: &'static str = "provider_failed";
    pub const TIMEOUT: &'static str = "timeout";
    pub const NOT_FOUND: &'static str = "provider_not_found";
    /// Waited in the gateway's queue past `tasks.max_queued_for`.
    pub const QUEUE_TIMEOUT: &'static str = "queue_timeout";
    /// The gateway cannot know whether the provider created the task; it was not sent twice.
    pub const CREATE_OUTCOME_UNKNOWN: &'static str = "create_outcome_unknown";

    pub fn new(code: impl Into<String>, message: impl Into<String>) -> TaskError {
        TaskError {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The task as the API shows it. Field names match `API.md` exactly.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub object: TaskObject,
    #[serde(rename = "type")]
    pub task_type: TaskType,
    pub status: TaskStatus,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, minimum = 0, maximum = 1))]
    pub progress: Option<Progress>,
    /// `None` while the task waits in the gateway's queue.
    pub provider: Option<String>,
    pub provider_task_id: Option<String>,
    pub provider_status: Option<String>,
    pub outputs: Vec<Output>,
    pub error: Option<TaskError>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Where the task stands in the gateway's queue; `None` once it reached a provider.
    #[serde(default)]
    pub queue: Option<QueuePlace>,
}

/// A queued task's place in the gateway's queue (`API.md`, "The gateway's queue").
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePlace {
    /// 1 for the next task to leave the queue among those waiting for the same providers;
    /// it only goes down.
    pub position: u64,
    /// The gateway's estimate from recent task durations; `None` without one.
    pub estimated_start_at: Option<DateTime<Utc>>,
    /// −10 to 10; higher leaves first within the tenant.
    pub priority: i32,
}

/// The constant `"task"` in the `object` field.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskObject {
    #[default]
    Task,
}

impl Task {
    /// A task just accepted by `provider` as `provider_task_id`.
    pub fn accepted(
        id: String,
        task_type: TaskType,
        provider: String,
        provider_task_id: String,
        metadata: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Task {
        Task {
            id,
            object: TaskObject::Task,
            task_type,
            status: TaskStatus::Queued,
            progress: None,
            provider: Some(provider),
            provider_task_id: Some(provider_task_id),
            provider_status: None,
            outputs: Vec::new(),
            error: None,
            metadata,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
            queue: None,
        }
    }

    /// A task accepted into the gateway's queue: no provider yet.
    pub fn waiting(
        id: String,
        task_type: TaskType,
        metadata: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Task {
        Task {
            id,
            object: TaskObject::Task,
            task_type,
            status: TaskStatus::Queued,
            progress: None,
            provider: None,
            provider_task_id: None,
            provider_status: None,
            outputs: Vec::new(),
            error: None,
            metadata,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
            queue: None,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}
