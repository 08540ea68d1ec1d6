//! The validated create input, one shape per task type.
//!
//! Parsing is by hand rather than by serde so every error names its field
//! (`input.duration_s`) and says why, which is what a client fixing a request needs.

use serde_json::{Map, Value};

use crate::ratio::Ratio;
use crate::task::TaskType;

/// A bad create input: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InputError {
    pub field: String,
    pub reason: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> InputError {
        InputError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextToVideo {
    pub prompt: String,
    pub duration_s: Option<u32>,
    pub ratio: Option<Ratio>,
    pub model: Option<String>,
    pub seed: Option<u64>,
    pub style: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageToVideo {
    pub image_url: String,
    pub prompt: Option<String>,
    pub duration_s: Option<u32>,
    pub ratio: Option<Ratio>,
    pub model: Option<String>,
    pub seed: Option<u64>,
    pub end_image_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoToVideo {
    pub video_url: String,
    pub prompt: String,
    pub model: Option<String>,
    pub seed: Option<u64>,
    pub ratio: Option<Ratio>,
    pub strength: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CharacterPerformance {
    pub character_url: String,
    pub reference_video_url: String,
    pub model: Option<String>,
    pub seed: Option<u64>,
    pub ratio: Option<Ratio>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextToImage {
    pub prompt: String,
    pub ratio: Option<Ratio>,
    pub seed: Option<u64>,
    pub model: Option<String>,
    pub reference_image_urls: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upscale {
    pub video_url: String,
    pub model: Option<String>,
}

/// The type-specific part of a create input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputSpec {
    TextToVideo(TextToVideo),
    ImageToVideo(ImageToVideo),
    VideoToVideo(VideoToVideo),
    CharacterPerformance(CharacterPerformance),
    TextToImage(TextToImage),
    Upscale(Upscale),
}

/// A create input that passed validation: required fields present, values in range.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInput {
    pub spec: InputSpec,
    /// Merged into the provider's request body as is (the escape hatch).
    pub extra: Map<String, Value>,
}

// The limits below are also the OpenAPI document's (`input_schema`), so that a body valid
// against the document is a valid create. Lengths count characters, as JSON Schema does.
pub const DURATIONS_S: [u32; 2] = [5, 10];
pub(crate) const MAX_PROMPT_CHARS: usize = 4_000;
pub(crate) const MAX_WORD_CHARS: usize = 200;
pub(crate) const MAX_URL_CHARS: usize = 8_192;
/// Data URIs can carry a whole image; bounded by the body limit in practice.
pub(crate) const MAX_DATA_URI_CHARS: usize = 8 * 1024 * 1024;
pub(crate) const MAX_SEED: u64 = u32::MAX as u64;
pub(crate) const MAX_REFERENCE_IMAGES: usize = 3;

impl TaskInput {
    /// Validates the `input` object of a create request for `task_type`.
    pub fn parse(task_type: TaskType, input: &Value) -> Result<TaskInput, InputError> {
        let Value::Object(map) = input else {
            return Err(InputError::new("input", "must be an object"));
        };
        let mut f = Fields::new(map.clone());
        let extra = f.extra()?;
        let spec = match task_type {
            TaskType::TextToVideo => InputSpec::TextToVideo(TextToVideo {
                prompt: f.required(Fields::prompt, "prompt")?,
                duration_s: f.duration()?,
                ratio: f.ratio()?,
                model: f.word("model")?,
                seed: f.seed()?,
                style: f.word("style")?,
            }),
            TaskType::ImageToVideo => InputSpec::ImageToVideo(ImageToVideo {
                image_url: f.required(Fields::url, "image_url")?,
                prompt: f.prompt("prompt")?,
                duration_s: f.duration()?,
                ratio: f.ratio()?,
                model: f.word("model")?,
                seed: f.seed()?,
                end_image_url: f.url("end_image_url")?,
            }),
            TaskType::VideoToVideo => InputSpec::VideoToVideo(VideoToVideo {
                video_url: f.required(Fields::url, "video_url")?,
                prompt: f.required(Fields::prompt, "prompt")?,
                model: f.word("model")?,
                seed: f.seed()?,
                ratio: f.ratio()?,
                strength: f.fraction("strength")?,
            }),
            TaskType::CharacterPerformance => {
                InputSpec::CharacterPerformance(CharacterPerformance {
                    character_url: f.required(Fields::url, "character_url")?,
                    reference_video_url: f.required(Fields::url, "reference_video_url")?,
                    model: f.word("model")?,
                    seed: f.seed()?,
                    ratio: f.ratio()?,
                })
            }
            TaskType::TextToImage => InputSpec::TextToImage(TextToImage {
                prompt: f.required(Fields::prompt, "prompt")?,
                ratio: f.ratio()?,
                seed: f.seed()?,
                model: f.word("model")?,
                reference_image_urls: f.reference_images()?,
            }),
            TaskType::Upscale => InputSpec::Upscale(Upscale {
                video_url: f.required(Fields::url, "video_url")?,
                model: f.word("model")?,
            }),
        };
        f.reject_leftovers(task_type)?;
        Ok(TaskInput { spec, extra })
    }

    pub fn task_type(&self) -> TaskType {
        match self.spec {
            InputSpec::TextToVideo(_) => TaskType::TextToVideo,
            InputSpec::ImageToVideo(_) => TaskType::ImageToVideo,
            InputSpec::VideoToVideo(_) => TaskType::VideoToVideo,
            InputSpec::CharacterPerformance(_) => TaskType::CharacterPerformance,
            InputSpec::TextToImage(_) => TaskType::TextToImage,
            InputSpec::Upscale(_) => TaskType::Upscale,
        }
    }
}

/// The fields of `input` not read yet; each reader removes what it reads.
struct Fields {
    map: Map<String, Value>,
}

type Reader<T> = fn(&mut Fields, &str) -> Result<Option<T>, InputError>;

fn path(name: &str) -> String {
    format!("input.{name}")
}

impl Fields {
    fn new(map: Map<String, Value>) -> Fields {
        Fields { map }
    }

    /// Takes a field; JSON `null` counts as absent.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    fn required<T>(&mut self, read: Reader<T>, name: &str) -> Result<T, InputError> {
        read(self, name)?.ok_or_else(|| InputError::new(path(name), "is required"))
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, InputError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(InputError::new(path(name), "must be a string")),
        }
    }

    fn prompt(&mut self, name: &str) -> Result<Option<String>, InputError> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        if text.trim().is_empty() {
            return Err(InputError::new(path(name), "must not be empty"));
        }
        if text.chars().count() > MAX_PROMPT_CHARS {
            return Err(InputError::new(
                path(name),
                format!("must be at most {MAX_PROMPT_CHARS} characters"),
            ));
        }
        Ok(Some(text))
    }

    /// A short identifier such as a model or style name.
    fn word(&mut self, name: &str) -> Result<Option<String>, InputError> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        if text.trim().is_empty() || text.chars().count() > MAX_WORD_CHARS {
            return Err(InputError::new(
                path(name),
                format!("must be a non-empty name of at most {MAX_WORD_CHARS} characters"),
            ));
        }
        Ok(Some(text))
    }

    fn url(&mut self, name: &str) -> Result<Option<String>, InputError> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        check_media_url(&text).map_err(|reason| InputError::new(path(name), reason))?;
        Ok(Some(text))
    }

    fn duration(&mut self) -> Result<Option<u32>, InputError> {
        let name = "duration_s";
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match whole_number(&n) {
                Some(d) if DURATIONS_S.iter().any(|ok| u64::from(*ok) == d) => {
                    Ok(u32::try_from(d).ok())
                }
                _ => Err(InputError::new(path(name), "must be 5 or 10")),
            },
            Some(_) => Err(InputError::new(path(name), "must be 5 or 10")),
        }
    }

    fn ratio(&mut self) -> Result<Option<Ratio>, InputError> {
        match self.string("ratio")? {
            None => Ok(None),
            Some(text) => Ratio::parse(&text)
                .map(Some)
                .map_err(|reason| InputError::new(path("ratio"), reason)),
        }
    }

    fn seed(&mut self) -> Result<Option<u64>, InputError> {
        match self.take("seed") {
            None => Ok(None),
            Some(Value::Number(n)) => match whole_number(&n) {
                Some(s) if s <= MAX_SEED => Ok(Some(s)),
                _ => Err(InputError::new(
                    path("seed"),
                    format!("must be an integer from 0 to {MAX_SEED}"),
                )),
            },
            Some(_) => Err(InputError::new(path("seed"), "must be an integer")),
        }
    }

    fn fraction(&mut self, name: &str) -> Result<Option<f64>, InputError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if (0.0..=1.0).contains(&x) => Ok(Some(x)),
                _ => Err(InputError::new(path(name), "must be a number from 0 to 1")),
            },
            Some(_) => Err(InputError::new(path(name), "must be a number from 0 to 1")),
        }
    }

    fn reference_images(&mut self) -> Result<Vec<String>, InputError> {
        let name = "reference_image_urls";
        let items = match self.take(name) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(InputError::new(path(name), "must be a list of URLs")),
        };
        if items.is_empty() || items.len() > MAX_REFERENCE_IMAGES {
            return Err(InputError::new(
                path(name),
                format!("must hold 1 to {MAX_REFERENCE_IMAGES} URLs"),
            ));
        }
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let field = format!("{}[{i}]", path(name));
                let Value::String(url) = item else {
                    return Err(InputError::new(field, "must be a string"));
                };
                check_media_url(&url).map_err(|reason| InputError::new(field, reason))?;
                Ok(url)
            })
            .collect()
    }

    fn extra(&mut self) -> Result<Map<String, Value>, InputError> {
        match self.take("extra") {
            None => Ok(Map::new()),
            Some(Value::Object(map)) => Ok(map),
            Some(_) => Err(InputError::new(path("extra"), "must be an object")),
        }
    }

    fn reject_leftovers(self, task_type: TaskType) -> Result<(), InputError> {
        match self.map.keys().min() {
            None => Ok(()),
            Some(name) => Err(InputError::new(
                path(name),
                format!("unknown field for type {task_type} (put provider-specific fields in input.extra)"),
            )),
        }
    }
}

/// A non-negative whole number however JSON spells it: `7` and `7.0` are the same number
/// (JSON Schema's `integer` takes both), though serde_json reads the second as a float.
fn whole_number(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|x| x.fract() == 0.0 && (0.0..=MAX_SEED as f64).contains(x))
            .map(|x| x as u64)
    })
}

/// A media reference: an absolute http(s) URL, or a `data:` URI carrying the file itself.
fn check_media_url(text: &str) -> Result<(), String> {
    if text.starts_with("data:") {
        return if text.contains(',') && text.chars().count() <= MAX_DATA_URI_CHARS {
            Ok(())
        } else {
            Err("is not a valid data URI".to_string())
        };
    }
    if text.chars().count() > MAX_URL_CHARS {
        return Err(format!("must be at most {MAX_URL_CHARS} characters"));
    }
    match url::Url::parse(text) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => Ok(()),
        _ => Err("must be an absolute http(s) URL or a data URI".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(t: TaskType, v: Value) -> Result<TaskInput, InputError> {
        TaskInput::parse(t, &v)
    }

    #[test]
    fn image_to_video_needs_image_url() {
        let err = parse(TaskType::ImageToVideo, json!({"prompt": "fox"})).unwrap_err();
        assert_eq!(err.field, "input.image_url");
        assert_eq!(err.reason, "is required");
    }

    #[test]
    fn accepts_full_text_to_video_with_extra() {
        let input = parse(
            TaskType::TextToVideo,
            json!({"prompt": "a fox", "duration_s": 10, "ratio": "9:16", "model": "gen4",
                   "seed": 7, "style": "cinematic", "extra": {"watermark": false}}),
        )
        .unwrap();
        assert_eq!(input.task_type(), TaskType::TextToVideo);
        assert_eq!(input.extra.get("watermark"), Some(&json!(false)));
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        let cases = [
            (
                TaskType::TextToVideo,
                json!({"prompt": "x", "duration_s": 7}),
                "input.duration_s",
            ),
            (TaskType::TextToVideo, json!({"prompt": ""}), "input.prompt"),
            (TaskType::TextToVideo, json!({"prompt": 5}), "input.prompt"),
            (
                TaskType::TextToVideo,
                json!({"prompt": "x", "ratio": "wide"}),
                "input.ratio",
            ),
            (
                TaskType::TextToVideo,
                json!({"prompt": "x", "seed": -1}),
                "input.seed",
            ),
            (
                TaskType::TextToVideo,
                json!({"prompt": "x", "image_url": "https://a/b"}),
                "input.image_url",
            ),
            (
                TaskType::VideoToVideo,
                json!({"video_url": "https://a/v.mp4", "prompt": "x", "strength": 2}),
                "input.strength",
            ),
            (
                TaskType::ImageToVideo,
                json!({"image_url": "ftp://a/b.jpg"}),
                "input.image_url",
            ),
            (
                TaskType::TextToImage,
                json!({"prompt": "x", "reference_image_urls": []}),
                "input.reference_image_urls",
            ),
            (
                TaskType::TextToImage,
                json!({"prompt": "x", "reference_image_urls": ["https://a/1.png", 3]}),
                "input.reference_image_urls[1]",
            ),
            (
                TaskType::Upscale,
                json!({"video_url": "https://a/v.mp4", "extra": 3}),
                "input.extra",
            ),
            (
                TaskType::Upscale,
                json!({"video_url": "https://a/v.mp4", "promt": "typo"}),
                "input.promt",
            ),
        ];
        for (t, v, field) in cases {
            let err = parse(t, v.clone()).expect_err(&v.to_string());
            assert_eq!(err.field, field, "{v}");
        }
        assert!(parse(TaskType::Upscale, json!([1])).is_err());
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_part_are_whole() {
        let input = parse(
            TaskType::TextToVideo,
            json!({"prompt": "fox", "seed": 7953.0, "duration_s": 10.0}),
        )
        .unwrap();
        let InputSpec::TextToVideo(t2v) = input.spec else {
            panic!("wrong spec")
        };
        assert_eq!((t2v.seed, t2v.duration_s), (Some(7953), Some(10)));
        for bad in [json!(7.5), json!(-1.0), json!(4294967296.0)] {
            let err = parse(TaskType::TextToVideo, json!({"prompt": "fox", "seed": bad}));
            assert_eq!(err.unwrap_err().field, "input.seed");
        }
    }

    #[test]
    fn null_counts_as_absent_and_data_uris_pass() {
        let input = parse(
            TaskType::ImageToVideo,
            json!({"image_url": "data:image/png;base64,AAAA", "prompt": null}),
        )
        .unwrap();
        let InputSpec::ImageToVideo(i2v) = input.spec else {
            panic!("wrong spec")
        };
        assert_eq!(i2v.prompt, None);
    }
}
