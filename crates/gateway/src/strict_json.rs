//! JSON request bodies parsed once into a `serde_json::Value`, refusing a key that appears
//! twice in one object at any depth. serde_json keeps the last of two equal keys, so
//! `{"type":"upscale","type":"text_to_video"}` would silently be a `text_to_video`: a body
//! that says two things is refused instead.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// Why a body is not acceptable JSON.
#[derive(Debug)]
pub enum JsonError {
    /// Not JSON (or trailing bytes after it).
    Malformed(serde_json::Error),
    /// A key appears twice in one object; its path, like `input.extra.seed`.
    DuplicateKey(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Malformed(e) => write!(f, "malformed JSON: {e}"),
            JsonError::DuplicateKey(path) => {
                write!(f, "the JSON body has the key {path} more than once")
            }
        }
    }
}

/// Parses `bytes` as one JSON value whose objects have no duplicated key.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let duplicate = Cell::new(None);
    let seed = Seed {
        at: None,
        duplicate: &duplicate,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match duplicate.take() {
        Some(path) => JsonError::DuplicateKey(path),
        None => JsonError::Malformed(e),
    })
}

/// Where the value being read sits, as a chain up to the root that lives on the stack: a
/// body without duplicates costs no path building.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

struct At<'a> {
    step: Step<'a>,
    parent: Option<&'a At<'a>>,
}

fn path(at: &At<'_>) -> String {
    let mut steps = vec![&at.step];
    let mut parent = at.parent;
    while let Some(p) = parent {
        steps.push(&p.step);
        parent = p.parent;
    }
    let mut text = String::new();
    for step in steps.iter().rev() {
        match step {
            Step::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

/// Reads one value at `at`; the first duplicated key's path goes to `duplicate` (serde's
/// error type carries only a message).
#[derive(Clone, Copy)]
struct Seed<'a> {
    at: Option<&'a At<'a>>,
    duplicate: &'a Cell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let at = At {
                step: Step::Index(items.len()),
                parent: self.at,
            };
            let seed = Seed {
                at: Some(&at),
                ..self
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = {
                let at = At {
                    step: Step::Key(&key),
                    parent: self.at,
                };
                map.next_value_seed(Seed {
                    at: Some(&at),
                    ..self
                })?
            };
            match object.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(slot) => {
                    let at = At {
                        step: Step::Key(slot.key()),
                        parent: self.at,
                    };
                    let path = path(&at);
                    let message = format!("duplicated key {path}");
                    self.duplicate.set(Some(path));
                    return Err(de::Error::custom(message));
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn duplicate(text: &str) -> Option<String> {
        match parse(text.as_bytes()) {
            Err(JsonError::DuplicateKey(path)) => Some(path),
            _ => None,
        }
    }

    #[test]
    fn a_duplicated_key_at_any_depth_is_named_by_its_path() {
        let cases = [
            (
                r#"{"type":"upscale","type":"text_to_video","input":{}}"#,
                "type",
            ),
            (
                r#"{"type":"text_to_video","input":{"prompt":"a","prompt":"b"}}"#,
                "input.prompt",
            ),
            (
                r#"{"input":{"prompt":"a","extra":{"seed":1,"seed":2}}}"#,
                "input.extra.seed",
            ),
            (r#"{"metadata":{"k":"1","k":"2"}}"#, "metadata.k"),
            (
                r#"{"input":{"images":[{"url":"a"},{"url":"b","url":"c"}]}}"#,
                "input.images[1].url",
            ),
            (r#"[[{"a":1,"a":1}]]"#, "[0][0].a"),
        ];
        for (text, path) in cases {
            assert_eq!(duplicate(text).as_deref(), Some(path), "{text}");
        }
    }

    #[test]
    fn equal_keys_in_different_objects_are_not_duplicates() {
        let text = r#"{"a":{"id":1},"b":{"id":2},"c":[{"id":3},{"id":4}],"id":5}"#;
        let value = parse(text.as_bytes()).unwrap();
        assert_eq!(value, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn malformed_text_and_trailing_bytes_are_malformed() {
        for text in ["{\"a\":", "{} {}", "{\"a\":1,}", "", "nul"] {
            assert!(
                matches!(parse(text.as_bytes()), Err(JsonError::Malformed(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn nesting_past_serde_jsons_recursion_limit_is_malformed_not_a_crash() {
        let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse(text.as_bytes()),
            Err(JsonError::Malformed(_))
        ));
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            // Halves print and read back exactly.
            any::<i32>().prop_map(|n| Value::from(f64::from(n) / 2.0)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn whatever_serde_json_prints_parses_back_to_the_same_value(value in any_value()) {
            for text in [serde_json::to_string(&value).unwrap(), serde_json::to_string_pretty(&value).unwrap()] {
                let parsed = parse(text.as_bytes()).unwrap();
                prop_assert_eq!(&parsed, &serde_json::from_str::<Value>(&text).unwrap());
                prop_assert_eq!(&parsed, &value);
            }
        }

        #[test]
        fn a_repeated_key_is_found_however_deep_it_is(
            object in prop::collection::btree_map("[a-z]{1,8}", any_value(), 1..6),
            pick in any::<prop::sample::Index>(),
            wraps in prop::collection::vec(prop::option::of("[a-z]{1,8}"), 0..5),
        ) {
            let keys: Vec<&String> = object.keys().collect();
            let key = keys[pick.index(keys.len())];
            let printed = serde_json::to_string(&Value::Object(object.clone().into_iter().collect())).unwrap();
            // The key again, first, with another value: `{"k":null,...the object...}`.
            let mut text = format!("{{{}:null,{}", serde_json::to_string(key).unwrap(), &printed[1..]);
            let mut path = key.clone();
            for wrap in &wraps {
                let (outer, json) = match wrap {
                    Some(outer) => (outer.clone(), format!("{{{}:{text}}}", serde_json::to_string(outer).unwrap())),
                    None => ("[0]".to_string(), format!("[{text}]")),
                };
                text = json;
                path = if path.starts_with('[') { format!("{outer}{path}") } else { format!("{outer}.{path}") };
            }
            prop_assert_eq!(duplicate(&text), Some(path));
        }
    }
}
