//! Object keys: `<prefix>/<tenant>/<task id>/<index>.<ext>`.
//!
//! Tenant and task ids come from requests and the store, so every part is checked before it
//! becomes a path: a key can never name anything outside its task's folder (no `/`, no
//! `..`, no empty or dot segments, nothing a file system or S3 reads specially).

use std::fmt;

/// Longest tenant, task id or prefix segment accepted.
const MAX_SEGMENT_LEN: usize = 128;
/// Longest file extension accepted.
const MAX_EXT_LEN: usize = 8;

/// A key part that is not allowed; the message names the part, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{0} must be 1 to 128 letters, digits, '_', '-' or '.', start with a letter or digit \
         and contain no '..'"
    )]
    InvalidSegment(&'static str),
    #[error("a file extension must be 1 to 8 lowercase letters or digits")]
    InvalidExtension,
    #[error("not an output object key")]
    NotOutputKey,
}

/// One output of one task of one tenant, checked to be safe as path segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutputId {
    tenant: String,
    task_id: String,
    index: u32,
}

impl OutputId {
    /// Refuses a tenant or task id that could leave its folder or is not a plain name.
    pub fn new(tenant: &str, task_id: &str, index: u32) -> Result<OutputId, KeyError> {
        check_segment(tenant, "tenant")?;
        check_segment(task_id, "task id")?;
        Ok(OutputId {
            tenant: tenant.to_owned(),
            task_id: task_id.to_owned(),
            index,
        })
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// The object key for this output stored with extension `ext` (`mp4`, `png`, `bin`...).
    pub fn with_ext(self, ext: &str) -> Result<ObjectKey, KeyError> {
        let valid = !ext.is_empty()
            && ext.len() <= MAX_EXT_LEN
            && ext
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(KeyError::InvalidExtension);
        }
        Ok(ObjectKey {
            id: self,
            ext: ext.to_owned(),
        })
    }
}

/// Where one output lives in storage, below the storage's prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    id: OutputId,
    ext: String,
}

impl ObjectKey {
    /// Shorthand for [`OutputId::new`] then [`OutputId::with_ext`].
    pub fn new(tenant: &str, task_id: &str, index: u32, ext: &str) -> Result<ObjectKey, KeyError> {
        OutputId::new(tenant, task_id, index)?.with_ext(ext)
    }

    pub fn id(&self) -> &OutputId {
        &self.id
    }

    pub fn ext(&self) -> &str {
        &self.ext
    }

    /// Reads back `<tenant>/<task id>/<index>.<ext>` (what `Display` writes); anything else,
    /// including a non-canonical index like `007`, is [`KeyError::NotOutputKey`].
    pub fn parse(relative: &str) -> Result<ObjectKey, KeyError> {
        let mut parts = relative.split('/');
        let (Some(tenant), Some(task_id), Some(file), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::NotOutputKey);
        };
        let (index, ext) = file.split_once('.').ok_or(KeyError::NotOutputKey)?;
        let canonical = index == "0" || (!index.starts_with('0') && !index.starts_with('+'));
        let index: u32 = match index.parse() {
            Ok(index) if canonical => index,
            _ => return Err(KeyError::NotOutputKey),
        };
        ObjectKey::new(tenant, task_id, index, ext).map_err(|_| KeyError::NotOutputKey)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.id;
        write!(f, "{}/{}/{}.{}", id.tenant, id.task_id, id.index, self.ext)
    }
}

/// A storage key prefix (`prod/outputs`): zero or more checked segments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPrefix(Vec<String>);

impl KeyPrefix {
    /// Accepts `a/b`, `/a/b/` or an empty string; refuses empty, dot and odd segments.
    pub(crate) fn parse(prefix: &str) -> Result<KeyPrefix, KeyError> {
        let trimmed = prefix.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(KeyPrefix::default());
        }
        let segments = trimmed
            .split('/')
            .map(|segment| check_segment(segment, "a prefix segment").map(|()| segment.to_owned()))
            .collect::<Result<_, _>>()?;
        Ok(KeyPrefix(segments))
    }

    /// `prefix/key`, or `key` without a prefix.
    pub(crate) fn join(&self, key: &ObjectKey) -> String {
        match self.as_path() {
            Some(prefix) => format!("{prefix}/{key}"),
            None => key.to_string(),
        }
    }

    /// The prefix as `a/b`, or `None` when empty.
    pub(crate) fn as_path(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join("/"))
    }

    /// The key below this prefix, when `full` is inside it.
    pub(crate) fn strip<'a>(&self, full: &'a str) -> Option<&'a str> {
        match self.as_path() {
            None => Some(full),
            Some(prefix) => full.strip_prefix(prefix.as_str())?.strip_prefix('/'),
        }
    }
}

fn check_segment(segment: &str, what: &'static str) -> Result<(), KeyError> {
    let first_ok = segment
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if first_ok && rest_ok && segment.len() <= MAX_SEGMENT_LEN && !segment.contains("..") {
        Ok(())
    } else {
        Err(KeyError::InvalidSegment(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_tenant_task_index_ext() {
        let key = ObjectKey::new("acme", "task_01JABC", 3, "mp4").unwrap();
        assert_eq!(key.to_string(), "acme/task_01JABC/3.mp4");
        assert_eq!(ObjectKey::parse("acme/task_01JABC/3.mp4").unwrap(), key);
    }

    #[test]
    fn ids_that_could_escape_are_refused() {
        for bad in [
            "", "..", ".", "../x", "a/b", "a\\b", ".hidden", "a..b", "a b", "a%2fb", "a\0", "é",
        ] {
            assert!(OutputId::new(bad, "task_1", 0).is_err(), "tenant {bad:?}");
            assert!(OutputId::new("acme", bad, 0).is_err(), "task id {bad:?}");
        }
        assert!(OutputId::new(&"a".repeat(129), "task_1", 0).is_err());
        assert!(OutputId::new(&"a".repeat(128), "task_1", 0).is_ok());
    }

    #[test]
    fn extensions_are_short_lowercase_words() {
        let id = OutputId::new("acme", "task_1", 0).unwrap();
        for bad in ["", "MP4", "mp4/x", "..", "a.b", "toolongext"] {
            assert_eq!(
                id.clone().with_ext(bad),
                Err(KeyError::InvalidExtension),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parse_refuses_anything_but_a_canonical_key() {
        for bad in [
            "acme/task_1",
            "acme/task_1/0",
            "acme/task_1/x.mp4",
            "acme/task_1/01.mp4",
            "acme/task_1/+1.mp4",
            "acme/task_1/0.mp4/x",
            "acme/task_1/0.mp4#1",
            "../task_1/0.mp4",
        ] {
            assert_eq!(
                ObjectKey::parse(bad),
                Err(KeyError::NotOutputKey),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn prefix_is_trimmed_checked_and_stripped() {
        let key = ObjectKey::new("acme", "task_1", 0, "png").unwrap();
        let prefix = KeyPrefix::parse("/prod/outputs/").unwrap();
        let full = prefix.join(&key);
        assert_eq!(full, "prod/outputs/acme/task_1/0.png");
        assert_eq!(prefix.strip(&full), Some("acme/task_1/0.png"));
        assert_eq!(prefix.strip("prod/outputsX/acme/task_1/0.png"), None);
        assert_eq!(
            KeyPrefix::parse("").unwrap().join(&key),
            "acme/task_1/0.png"
        );
        for bad in ["a//b", "a/../b", "a/./b", "a b"] {
            assert!(KeyPrefix::parse(bad).is_err(), "{bad:?}");
        }
    }
}
