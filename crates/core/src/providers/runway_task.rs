//! Runway's own dialect, shared by the direct API and CometAPI's official format:
//! create bodies (camelCase) and the task object.

use serde_json::{json, Map, Value};

use super::merge::{merge_extra, put};
use super::WireRequest;
use crate::input::{InputError, InputSpec, TaskInput};
use crate::progress::Progress;
use crate::ratio::{Ratio, RUNWAY_IMAGE_PIXELS, RUNWAY_VIDEO_PIXELS};
use crate::snapshot::{status_from_word, Snapshot};
use crate::task::{Output, TaskError, TaskType};
use crate::wire;

pub(crate) const TASK_TYPES: [TaskType; 5] = [
    TaskType::ImageToVideo,
    TaskType::VideoToVideo,
    TaskType::CharacterPerformance,
    TaskType::TextToImage,
    TaskType::Upscale,
];

/// Builds the create request; `prefix` is `""` for Runway itself, `/runwayml` behind CometAPI.
pub(crate) fn create_request(
    prefix: &str,
    provider: &str,
    input: &TaskInput,
) -> Result<WireRequest, InputError> {
    let mut body = Map::new();
    let route = match &input.spec {
        InputSpec::ImageToVideo(i) => {
            let image = match &i.end_image_url {
                None => json!(i.image_url),
                Some(end) => json!([
                    {"uri": i.image_url, "position": "first"},
                    {"uri": end, "position": "last"}
                ]),
            };
            body.insert("promptImage".into(), image);
            body.insert("model".into(), model(&i.model, "gen4_turbo"));
            put(&mut body, "promptText", i.prompt.clone());
            put(&mut body, "seed", i.seed);
            body.insert("duration".into(), json!(i.duration_s.unwrap_or(5)));
            body.insert("ratio".into(), video_ratio(i.ratio));
            "image_to_video"
        }
        InputSpec::TextToImage(i) => {
            body.insert("promptText".into(), json!(i.prompt));
            body.insert("model".into(), model(&i.model, "gen4_image"));
            let ratio = i.ratio.map_or_else(
                || "1920:1080".to_string(),
                |r| r.pixels(&RUNWAY_IMAGE_PIXELS),
            );
            body.insert("ratio".into(), json!(ratio));
            put(&mut body, "seed", i.seed);
            if !i.reference_image_urls.is_empty() {
                let refs: Vec<Value> = i
                    .reference_image_urls
                    .iter()
                    .map(|uri| json!({"uri": uri}))
                    .collect();
                body.insert("referenceImages".into(), Value::Array(refs));
            }
            "text_to_image"
        }
        InputSpec::VideoToVideo(i) => {
            if i.strength.is_some() {
                return Err(unsupported("strength", provider));
            }
            body.insert("videoUri".into(), json!(i.video_url));
            body.insert("promptText".into(), json!(i.prompt));
            body.insert("model".into(), model(&i.model, "gen4_aleph"));
            put(&mut body, "seed", i.seed);
            put(
                &mut body,
                "ratio",
                i.ratio.map(|r| r.pixels(&RUNWAY_VIDEO_PIXELS)),
            );
            "video_to_video"
        }
        InputSpec::Upscale(i) => {
            body.insert("videoUri".into(), json!(i.video_url));
            body.insert("model".into(), model(&i.model, "upscale_v1"));
            "video_upscale"
        }
        InputSpec::CharacterPerformance(i) => {
            body.insert("model".into(), model(&i.model, "act_two"));
            body.insert(
                "character".into(),
                json!({"type": media_type(&i.character_url), "uri": i.character_url}),
            );
            body.insert(
                "reference".into(),
                json!({"type": "video", "uri": i.reference_video_url}),
            );
            put(&mut body, "seed", i.seed);
            put(
                &mut body,
                "ratio",
                i.ratio.map(|r| r.pixels(&RUNWAY_VIDEO_PIXELS)),
            );
            "character_performance"
        }
        InputSpec::TextToVideo(_) => {
            return Err(InputError::new(
                "type",
                format!("{provider} cannot run text_to_video"),
            ))
        }
    };
    let mut body = Value::Object(body);
    merge_extra(&mut body, &input.extra);
    Ok(WireRequest::post(format!("{prefix}/v1/{route}"), body))
}

pub(crate) fn unsupported(field: &str, provider: &str) -> InputError {
    InputError::new(
        format!("input.{field}"),
        format!("not supported by provider {provider}"),
    )
}

fn model(chosen: &Option<String>, default: &str) -> Value {
    json!(chosen.as_deref().unwrap_or(default))
}

fn video_ratio(ratio: Option<Ratio>) -> Value {
    json!(ratio.map_or_else(
        || "1280:720".to_string(),
        |r| r.pixels(&RUNWAY_VIDEO_PIXELS)
    ))
}

/// Runway's `character.type`: a video when the path ends like one, else an image.
fn media_type(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let is_video = [".mp4", ".mov", ".webm", ".m4v", ".mkv"]
        .iter()
        .any(|ext| path.ends_with(ext))
        || path.starts_with("data:video/");
    if is_video {
        "video"
    } else {
        "image"
    }
}

/// Reads a Runway task object (`{id, status, createdAt, progress, output, failure, failureCode}`).
pub(crate) fn snapshot(task: &Value, task_type: TaskType) -> Snapshot {
    let word = wire::text(task.get("status")).unwrap_or_default();
    let mut snap = Snapshot {
        status: status_from_word(&word),
        provider_status: word,
        progress: task.get("progress").and_then(Progress::from_wire),
        ..Snapshot::default()
    };
    add_outputs(&mut snap, task, task_type);
    if snap.status == Some(crate::task::TaskStatus::Failed) {
        snap.error = Some(failure(task));
    }
    snap
}

pub(crate) fn add_outputs(snap: &mut Snapshot, task: &Value, task_type: TaskType) {
    for url in wire::urls(task.get("output")) {
        snap.push_output(Output::new(url, task_type.output_kind()));
    }
}

pub(crate) fn failure(task: &Value) -> TaskError {
    TaskError::new(
        wire::text(task.get("failureCode")).unwrap_or_else(|| TaskError::PROVIDER_FAILED.into()),
        wire::text(task.get("failure")).unwrap_or_else(|| "the provider reported a failure".into()),
    )
}

/// The task id from a create answer: `{"id"}`, or wrapped in `data`, or as `task_id`.
pub(crate) fn created_id(body: &Value) -> Option<String> {
    [
        &["id"][..],
        &["task_id"],
        &["data", "id"],
        &["data", "task_id"],
    ]
    .iter()
    .find_map(|path| wire::text(wire::at(body, path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_by_extension() {
        assert_eq!(media_type("https://a/b/c.MP4?x=1"), "video");
        assert_eq!(media_type("https://a/b/c.png"), "image");
        assert_eq!(media_type("data:video/mp4;base64,AA"), "video");
    }
}
