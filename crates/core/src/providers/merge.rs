//! Merging `input.extra` into a provider body.

use serde_json::{Map, Value};

/// Merges `extra` into `body`: objects merge key by key (so `extra.options.x` joins the
/// body's `options`), anything else replaces what was there.
pub(crate) fn merge_extra(body: &mut Value, extra: &Map<String, Value>) {
    let Value::Object(target) = body else {
        return;
    };
    merge_maps(target, extra);
}

fn merge_maps(target: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (key, value) in extra {
        match (target.get_mut(key), value) {
            (Some(Value::Object(inner)), Value::Object(more)) => merge_maps(inner, more),
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Inserts `value` under `key` when it is present.
pub(crate) fn put<T: Into<Value>>(body: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        body.insert(key.to_string(), v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_nested_objects_and_replaces_scalars() {
        let mut body = json!({"prompt": "a", "options": {"seconds": 5}});
        let extra = json!({"options": {"flip": true}, "prompt": "b", "watermark": false});
        let Value::Object(extra) = extra else { return };
        merge_extra(&mut body, &extra);
        assert_eq!(
            body,
            json!({"prompt": "b", "options": {"seconds": 5, "flip": true}, "watermark": false})
        );
    }
}
