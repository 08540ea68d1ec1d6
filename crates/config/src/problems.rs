//! What is wrong with a config file: problems, each at a YAML path, collected and reported
//! together.

use std::collections::BTreeSet;
use std::fmt;

/// One thing wrong with a config file. `path` is the YAML path in dotted form with `[i]` for
/// list items (`tenants.acme.routes.image_to_video[1]`), or `<file>` / `<root>` for the file
/// as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a config file, sorted by path. Never empty when returned by
/// [`crate::load`] or [`crate::from_yaml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl ConfigErrors {
    /// One problem about the file as a whole (unreadable, not YAML).
    pub fn file(message: impl Into<String>) -> ConfigErrors {
        ConfigErrors(vec![ConfigProblem {
            path: FILE.to_string(),
            message: message.into(),
        }])
    }

    pub fn problems(&self) -> &[ConfigProblem] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The path of problems about the file as a whole.
pub(crate) const FILE: &str = "<file>";
/// The path of problems about the top level of the document.
pub(crate) const ROOT: &str = "<root>";

/// The collector every phase writes into.
#[derive(Default)]
pub(crate) struct Problems {
    list: Vec<ConfigProblem>,
    /// Paths whose value is already known to be unusable (an unset variable in it): later
    /// problems there would only repeat the first one.
    muted: BTreeSet<String>,
}

impl Problems {
    pub(crate) fn add(&mut self, path: &str, message: impl Into<String>) {
        if self.muted.contains(path) {
            return;
        }
        self.list.push(ConfigProblem {
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Drops any later problem at `path`.
    pub(crate) fn mute(&mut self, path: &str) {
        self.muted.insert(path.to_string());
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn into_errors(self) -> ConfigErrors {
        let mut list = self.list;
        // Stable: problems at one path keep the order they were found in.
        list.sort_by(|a, b| a.path.cmp(&b.path));
        list.dedup();
        ConfigErrors(list)
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_deduplicated_and_one_per_line() {
        let mut p = Problems::default();
        p.add("tenants.b", "second");
        p.add("providers.a", "first");
        p.add("tenants.b", "second");
        let errors = p.into_errors();
        assert_eq!(errors.to_string(), "providers.a: first\ntenants.b: second");
    }

    #[test]
    fn a_muted_path_takes_no_more_problems() {
        let mut p = Problems::default();
        p.add("providers.a.api_key", "environment variable X is not set");
        p.mute("providers.a.api_key");
        p.add("providers.a.api_key", "must not be empty");
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn paths_join_keys_and_indexes() {
        assert_eq!(key("", "tenants"), "tenants");
        assert_eq!(
            index(&key("tenants.acme", "keys"), 2),
            "tenants.acme.keys[2]"
        );
    }
}
