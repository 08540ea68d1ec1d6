//! `${VAR}` substitution in string values, done on the parsed tree (never on the file text,
//! so a variable's value cannot add YAML structure).

use config::{Value, ValueKind};

use crate::problems::{self, Problems};

/// Where variables come from: `std::env` in production, a closure in tests.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Replaces every `${NAME}` in every string of the tree. An unset variable or a malformed
/// reference is a problem at the value's path; that path is then muted so the unusable value
/// is reported once.
pub(crate) fn substitute_tree(value: &mut Value, path: &str, env: Env, problems: &mut Problems) {
    match &mut value.kind {
        ValueKind::String(text) => match substitute(text, env) {
            Ok(resolved) => *text = resolved,
            Err(messages) => {
                for message in messages {
                    problems.add(path, message);
                }
                problems.mute(path);
            }
        },
        ValueKind::Table(map) => {
            for (k, v) in map.iter_mut() {
                substitute_tree(v, &problems::key(path, k), env, problems);
            }
        }
        ValueKind::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                substitute_tree(v, &problems::index(path, i), env, problems);
            }
        }
        _ => {}
    }
}

/// `${NAME}` → the variable's value; `$${` → a literal `${`; any other `$` stays as it is.
/// Names are letters, digits and `_`, not starting with a digit.
pub(crate) fn substitute(text: &str, env: Env) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        if let Some(after_escape) = after.strip_prefix("${") {
            out.push_str("${");
            rest = after_escape;
            continue;
        }
        let Some(reference) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some((name, after_reference)) = reference.split_once('}') else {
            errors.push("'${' without a closing '}' (write '$${' for a literal '${')".to_string());
            rest = "";
            break;
        };
        if !is_variable_name(name) {
            errors.push(format!(
                "'${{{name}}}' is not a variable reference: names are letters, digits and '_'"
            ));
        } else {
            match env(name) {
                Some(value) => out.push_str(&value),
                None => errors.push(format!("environment variable {name} is not set")),
            }
        }
        rest = after_reference;
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("sk-1".to_string()),
            "HOST" => Some("db".to_string()),
            "BRACES" => Some("${KEY}".to_string()),
            _ => None,
        }
    }

    #[test]
    fn replaces_every_reference_in_a_value() {
        assert_eq!(
            substitute("postgres://u:${KEY}@${HOST}/x", &env).unwrap(),
            "postgres://u:sk-1@db/x"
        );
    }

    #[test]
    fn a_value_is_not_substituted_again() {
        assert_eq!(substitute("${BRACES}", &env).unwrap(), "${KEY}");
    }

    #[test]
    fn lone_dollars_stay_and_double_dollar_brace_escapes() {
        assert_eq!(substitute("a$b $ $${KEY}", &env).unwrap(), "a$b $ ${KEY}");
    }

    #[test]
    fn every_unset_variable_is_named() {
        assert_eq!(
            substitute("${NOPE}-${KEY}-${ALSO_NOPE}", &env).unwrap_err(),
            vec![
                "environment variable NOPE is not set",
                "environment variable ALSO_NOPE is not set"
            ]
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        assert_eq!(substitute("${KEY", &env).unwrap_err().len(), 1);
        assert_eq!(substitute("${}", &env).unwrap_err().len(), 1);
        assert_eq!(substitute("${1X}", &env).unwrap_err().len(), 1);
        assert_eq!(substitute("${a b}", &env).unwrap_err().len(), 1);
    }

    proptest! {
        #[test]
        fn text_without_dollars_is_unchanged(text in "[^$]*") {
            prop_assert_eq!(substitute(&text, &env).unwrap(), text);
        }

        #[test]
        fn never_panics(text in ".*") {
            let _ = substitute(&text, &env);
        }
    }
}
