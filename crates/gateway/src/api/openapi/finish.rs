//! The last touches utoipa's types cannot hold, made on the document as JSON:
//! - `required` on the response headers every answer carries (utoipa's `Header` has no such
//!   field);
//! - links spelled as OpenAPI spells them (utoipa 5 writes `operation_id`, not `operationId`);
//! - optional header and query parameters without `null` (absent is not `null` there);
//! - on create bodies, `callback_events` needing a `callback_url` (utoipa's `Object` has no
//!   `if`/`then`).

use serde_json::Value;

use super::responses::REQUIRED_HEADERS;

/// The document as JSON, with the touches above.
pub fn finished(document: utoipa::openapi::OpenApi) -> bytes::Bytes {
    let mut json = match serde_json::to_value(&document) {
        Ok(json) => json,
        // A plain data tree always serializes; should it not, serve utoipa's own rendering.
        Err(_) => return bytes::Bytes::from(document.to_json().unwrap_or_default()),
    };
    finish(&mut json);
    bytes::Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
}

fn finish(json: &mut Value) {
    for schema in schemas(json) {
        callback_events_need_a_callback_url(schema);
    }
    for operation in operations(json) {
        if let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            parameters.iter_mut().for_each(drop_null_when_optional);
        }
    }
    for response in responses(json) {
        mark_required_headers(response);
        if let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) {
            links.values_mut().for_each(camel_case_link);
        }
    }
}

/// Every operation object of the document (and a path item's other members, which have
/// neither `parameters` arrays of operations' shape nor `responses`).
fn operations(document: &mut Value) -> impl Iterator<Item = &mut Value> {
    document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
}

/// Every schema of the document's components.
fn schemas(document: &mut Value) -> impl Iterator<Item = &mut Value> {
    document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|schemas| schemas.values_mut())
}

/// A create body whose `callback_events` is a list must have a `callback_url` string.
fn callback_events_need_a_callback_url(schema: &mut Value) {
    let has = |name: &str| schema.pointer(&format!("/properties/{name}")).is_some();
    if !(has("callback_events") && has("callback_url")) {
        return;
    }
    if let Some(schema) = schema.as_object_mut() {
        schema.insert(
            "if".into(),
            serde_json::json!({"properties": {"callback_events": {"type": "array"}},
                               "required": ["callback_events"]}),
        );
        schema.insert(
            "then".into(),
            serde_json::json!({"properties": {"callback_url": {"type": "string"}},
                               "required": ["callback_url"]}),
        );
    }
}

/// Every response object of the document: the operations' and the reusable ones.
fn responses(document: &mut Value) -> Vec<&mut Value> {
    let mut found = Vec::new();
    let Some(root) = document.as_object_mut() else {
        return found;
    };
    for (key, section) in root.iter_mut() {
        let maps: Vec<&mut Value> = match key.as_str() {
            "paths" => section
                .as_object_mut()
                .into_iter()
                .flat_map(|paths| paths.values_mut())
                .filter_map(Value::as_object_mut)
                .flat_map(|item| item.values_mut())
                .filter_map(|operation| operation.get_mut("responses"))
                .collect(),
            "components" => section.get_mut("responses").into_iter().collect(),
            _ => Vec::new(),
        };
        for map in maps.into_iter().filter_map(Value::as_object_mut) {
            found.extend(map.values_mut());
        }
    }
    found
}

fn camel_case_link(link: &mut Value) {
    let Some(link) = link.as_object_mut() else {
        return;
    };
    for (from, to) in [
        ("operation_id", "operationId"),
        ("operation_ref", "operationRef"),
        ("request_body", "requestBody"),
    ] {
        if let Some(value) = link.remove(from) {
            link.insert(to.into(), value);
        }
    }
}

fn drop_null_when_optional(parameter: &mut Value) {
    let optional = parameter.get("required") != Some(&Value::Bool(true));
    let in_header_or_query = matches!(
        parameter.get("in").and_then(Value::as_str),
        Some("header" | "query")
    );
    if !(optional && in_header_or_query) {
        return;
    }
    let Some(types) = parameter
        .get_mut("schema")
        .and_then(|schema| schema.get_mut("type"))
    else {
        return;
    };
    if let Some(list) = types.as_array_mut() {
        list.retain(|t| t != "null");
        if let [only] = list.as_slice() {
            *types = only.clone();
        }
    }
}

fn mark_required_headers(response: &mut Value) {
    let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, header) in headers.iter_mut() {
        let required = REQUIRED_HEADERS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name));
        if let (true, Some(header)) = (required, header.as_object_mut()) {
            header.insert("required".into(), Value::Bool(true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marks_listed_headers_required_in_operations_and_components() {
        let mut document = json!({
            "paths": {"/x": {"get": {"responses": {"200": {"headers": {
                "x-request-id": {"schema": {"type": "string"}},
                "RateLimit": {"schema": {"type": "string"}}
            }}}}}},
            "components": {"responses": {"TooMany": {"headers": {
                "Retry-After": {"schema": {"type": "integer"}}
            }}}}
        });
        finish(&mut document);
        let ok = &document["paths"]["/x"]["get"]["responses"]["200"]["headers"];
        assert_eq!(ok["x-request-id"]["required"], true);
        assert!(ok["RateLimit"].get("required").is_none());
        assert_eq!(
            document["components"]["responses"]["TooMany"]["headers"]["Retry-After"]["required"],
            true
        );
    }

    #[test]
    fn links_are_camel_cased_and_optional_parameters_never_null() {
        let document = utoipa::openapi::OpenApiBuilder::new().build();
        let mut json: Value = serde_json::from_slice(&finished(document)).unwrap();
        assert!(json.get("openapi").is_some());
        json["paths"] = json!({"/t": {"get": {
            "parameters": [
                {"name": "Key", "in": "header", "required": false, "schema": {"type": ["string", "null"]}},
                {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}
            ],
            "responses": {"200": {"links": {"Next": {"operation_id": "t", "parameters": {"id": "$response.body#/id"}}}}}
        }}});
        finish(&mut json);
        let op = &json["paths"]["/t"]["get"];
        assert_eq!(op["parameters"][0]["schema"]["type"], "string");
        assert_eq!(op["responses"]["200"]["links"]["Next"]["operationId"], "t");
        assert!(op["responses"]["200"]["links"]["Next"]
            .get("operation_id")
            .is_none());
    }
}
