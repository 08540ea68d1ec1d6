//! The create input as JSON Schema, one schema per task type, for the OpenAPI document.
//!
//! Built from the limits `input.rs` checks, so that an input valid against its schema is one
//! `TaskInput::parse` accepts (and the reverse, as far as JSON Schema can say it). A change to
//! the validation that these schemas cannot follow should fail `input_schema`'s tests.

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

use crate::input::{
    DURATIONS_S, MAX_DATA_URI_CHARS, MAX_PROMPT_CHARS, MAX_REFERENCE_IMAGES, MAX_SEED,
    MAX_URL_CHARS, MAX_WORD_CHARS,
};
use crate::ratio::{Aspect, MAX_SIDE};
use crate::task::TaskType;

/// Component name of the media reference schema (an http(s) URL or a data URI).
pub const MEDIA_URL: &str = "MediaUrl";

/// Holds at least one character `str::trim` keeps (the input's "must not be empty"). Spelled
/// out because `\S` differs between regex engines (U+0085 and U+FEFF, for two), and the
/// document's readers use several.
const NOT_BLANK: &str =
    r"[^\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// The http(s) URLs the schema promises: the scheme in any case, a host of letter-led labels
/// (never an IPv4 number or an IDNA label the URL parser could refuse), an optional port
/// below 10000, then any visible ASCII. `TaskInput::parse` accepts more (any absolute
/// http(s) URL with a host).
const HTTP_URL: &str = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*(?::[0-9]{1,4})?(?:[/?#][!-~]*)?$";

/// A `data:` URI: the file itself, after the first comma.
const DATA_URI: &str = r"^data:[^,]*,";

/// Component name of `task_type`'s input schema: `TextToVideoInput`, ...
pub fn input_schema_name(task_type: TaskType) -> String {
    let camel: String = task_type
        .as_str()
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    format!("{camel}Input")
}

/// The media reference every `*_url` field takes.
pub fn media_url_schema() -> Schema {
    let http = ObjectBuilder::new()
        .schema_type(Type::String)
        .title(Some("http(s) URL"))
        .pattern(Some(HTTP_URL))
        .max_length(Some(MAX_URL_CHARS));
    let data = ObjectBuilder::new()
        .schema_type(Type::String)
        .title(Some("data URI"))
        .pattern(Some(DATA_URI))
        .max_length(Some(MAX_DATA_URI_CHARS));
    OneOfBuilder::new()
        .item(http)
        .item(data)
        .description(Some(
            "An absolute http(s) URL the provider can fetch, or a `data:` URI carrying the file.",
        ))
        .into()
}

/// The schema of `input` for `task_type`: its fields, which are required, and their limits.
pub fn input_schema(task_type: TaskType) -> Schema {
    use Field::*;
    let fields: &[(&str, Field)] = match task_type {
        TaskType::TextToVideo => &[
            ("prompt", Prompt(true)),
            ("duration_s", Duration),
            ("ratio", Ratio),
            ("model", Name),
            ("seed", Seed),
            ("style", Name),
        ],
        TaskType::ImageToVideo => &[
            ("image_url", Url(true)),
            ("prompt", Prompt(false)),
            ("duration_s", Duration),
            ("ratio", Ratio),
            ("model", Name),
            ("seed", Seed),
            ("end_image_url", Url(false)),
        ],
        TaskType::VideoToVideo => &[
            ("video_url", Url(true)),
            ("prompt", Prompt(true)),
            ("model", Name),
            ("seed", Seed),
            ("ratio", Ratio),
            ("strength", Strength),
        ],
        TaskType::CharacterPerformance => &[
            ("character_url", Url(true)),
            ("reference_video_url", Url(true)),
            ("model", Name),
            ("seed", Seed),
            ("ratio", Ratio),
        ],
        TaskType::TextToImage => &[
            ("prompt", Prompt(true)),
            ("ratio", Ratio),
            ("seed", Seed),
            ("model", Name),
            ("reference_image_urls", ReferenceImages),
        ],
        TaskType::Upscale => &[("video_url", Url(true)), ("model", Name)],
    };
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!(
            "The input of a `{task_type}` task. Other fields are refused; provider-specific \
             ones go in `extra`."
        )))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for (name, field) in fields {
        object = object.property(*name, field.schema());
        if field.is_required() {
            object = object.required(*name);
        }
    }
    object.property("extra", extra()).into()
}

/// What one input field takes.
#[derive(Clone, Copy)]
enum Field {
    Prompt(bool),
    Url(bool),
    Name,
    Duration,
    Ratio,
    Seed,
    Strength,
    ReferenceImages,
}

impl Field {
    fn is_required(self) -> bool {
        matches!(self, Field::Prompt(true) | Field::Url(true))
    }

    fn schema(self) -> RefOr<Schema> {
        match self {
            Field::Prompt(required) => text(
                required,
                MAX_PROMPT_CHARS,
                "What to generate, in words (not only whitespace).",
            ),
            Field::Url(true) => Ref::from_schema_name(MEDIA_URL).into(),
            Field::Url(false) => OneOfBuilder::new()
                .item(Ref::from_schema_name(MEDIA_URL))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .into(),
            Field::Name => text(
                false,
                MAX_WORD_CHARS,
                "A provider's name for a model or style (not only whitespace).",
            ),
            Field::Duration => OneOfBuilder::new()
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .enum_values(Some(DURATIONS_S)),
                )
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(Some("Length of the video in seconds."))
                .into(),
            Field::Ratio => ObjectBuilder::new()
                .schema_type(nullable(Type::String))
                .pattern(Some(ratio_pattern()))
                .description(Some(format!(
                    "An aspect ({}) or a provider pixel pair such as `1280:720` (each side 1 to \
                     {MAX_SIDE}); the gateway converts it to what the chosen provider takes.",
                    Aspect::ALL.map(Aspect::as_str).join(", ")
                )))
                .examples(["16:9"])
                .into(),
            Field::Seed => ObjectBuilder::new()
                .schema_type(nullable(Type::Integer))
                .minimum(Some(0))
                .maximum(Some(MAX_SEED as f64))
                .into(),
            Field::Strength => ObjectBuilder::new()
                .schema_type(nullable(Type::Number))
                .minimum(Some(0))
                .maximum(Some(1))
                .description(Some("How far the video may move from its source, 0 to 1."))
                .into(),
            Field::ReferenceImages => ArrayBuilder::new()
                .schema_type(nullable(Type::Array))
                .items(Ref::from_schema_name(MEDIA_URL))
                .min_items(Some(1))
                .max_items(Some(MAX_REFERENCE_IMAGES))
                .into(),
        }
    }
}

/// A string that is not blank, of at most `max` characters; `null` too when optional.
fn text(required: bool, max: usize, description: &str) -> RefOr<Schema> {
    let schema_type = if required {
        SchemaType::new(Type::String)
    } else {
        nullable(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(NOT_BLANK))
        .description(Some(description))
        .into()
}

/// `input.extra`: merged into the provider's request as is.
fn extra() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(nullable(Type::Object))
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .description(Some(
            "Merged into the provider's request as is: the escape hatch for provider-specific fields.",
        ))
        .into()
}

/// An optional field: JSON `null` counts as absent.
fn nullable(kind: Type) -> SchemaType {
    SchemaType::from_iter([kind, Type::Null])
}

/// `w:h` with each side a whole number from 1 to `MAX_SIDE` (leading zeros allowed, as the
/// parser reads them). The aspects are pairs of this form too.
fn ratio_pattern() -> String {
    let side = side_pattern(MAX_SIDE);
    format!("^0*{side}:0*{side}$")
}

/// A regular expression for the whole numbers 1 to `max` without leading zeros.
fn side_pattern(max: u32) -> String {
    let digits: Vec<u32> = max
        .to_string()
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .collect();
    let len = digits.len();
    let mut branches = Vec::new();
    // Fewer digits than `max`: anything from 1 up.
    if len > 1 {
        branches.push(format!("[1-9][0-9]{{0,{}}}", len - 2));
    }
    // As many digits: the same prefix as `max`, then a smaller digit, then anything.
    for (i, &digit) in digits.iter().enumerate() {
        let low = u32::from(i == 0);
        if digit > low {
            let prefix: String = digits[..i].iter().map(u32::to_string).collect();
            let rest = len - i - 1;
            let tail = if rest == 0 {
                String::new()
            } else {
                format!("[0-9]{{{rest}}}")
            };
            branches.push(format!("{prefix}[{low}-{}]{tail}", digit - 1));
        }
    }
    branches.push(max.to_string());
    format!("(?:{})", branches.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_pattern_spells_out_one_to_max() {
        assert_eq!(
            side_pattern(16_384),
            "(?:[1-9][0-9]{0,3}|1[0-5][0-9]{3}|16[0-2][0-9]{2}|163[0-7][0-9]{1}|1638[0-3]|16384)"
        );
        assert_eq!(side_pattern(9), "(?:[1-8]|9)");
        assert_eq!(side_pattern(10), "(?:[1-9][0-9]{0,0}|10)");
    }

    #[test]
    fn names_follow_the_type() {
        assert_eq!(
            input_schema_name(TaskType::CharacterPerformance),
            "CharacterPerformanceInput"
        );
        assert_eq!(input_schema_name(TaskType::Upscale), "UpscaleInput");
    }

    /// The pattern without its outer anchors, for proptest's generator (which has none).
    fn unanchored(pattern: &str) -> &str {
        pattern.trim_start_matches('^').trim_end_matches('$')
    }

    #[test]
    fn not_blank_means_what_trim_means() {
        let pattern = regex::Regex::new(NOT_BLANK).unwrap();
        for c in (0..=0xFFFF).filter_map(char::from_u32) {
            assert_eq!(
                pattern.is_match(c.encode_utf8(&mut [0; 4])),
                !c.is_whitespace(),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn the_ratio_pattern_takes_exactly_the_sides_the_parser_takes() {
        let pattern = regex::Regex::new(&ratio_pattern()).unwrap();
        let sides = (0u64..=17_000).chain([99_999, 4_294_967_295]);
        for w in sides {
            for text in [format!("{w}:9"), format!("16:{w}"), format!("00{w}:0{w}")] {
                assert_eq!(
                    pattern.is_match(&text),
                    crate::ratio::Ratio::parse(&text).is_ok(),
                    "{text}"
                );
            }
        }
        for aspect in Aspect::ALL {
            assert!(pattern.is_match(aspect.as_str()));
        }
    }

    fn input(task_type: TaskType, fields: serde_json::Value) -> Result<(), String> {
        crate::input::TaskInput::parse(task_type, &fields)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    proptest::proptest! {
        /// What the schemas allow, the validation takes: URLs and data URIs, ratios, names
        /// and prompts drawn from the schemas' own patterns.
        #[test]
        fn values_drawn_from_the_schemas_are_valid_input(
            url in proptest::string::string_regex(unanchored(HTTP_URL)).unwrap(),
            data in proptest::string::string_regex(&format!("{}.*", unanchored(DATA_URI))).unwrap(),
            ratio in proptest::string::string_regex(unanchored(&ratio_pattern())).unwrap(),
            prompt in proptest::string::string_regex(r"\s{0,3}\S[^\x00]{0,40}").unwrap(),
            model in proptest::string::string_regex(r"\S{1,200}").unwrap(),
        ) {
            let fields = serde_json::json!({
                "image_url": url, "end_image_url": data, "ratio": ratio,
                "prompt": prompt, "model": model, "seed": MAX_SEED, "duration_s": 10,
            });
            proptest::prop_assert_eq!(input(TaskType::ImageToVideo, fields.clone()), Ok(()), "{}", fields);
        }
    }
}
