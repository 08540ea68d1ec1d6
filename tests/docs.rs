//! The reference in `docs/` describes what the gateway serves: every route and error code
//! of `docs/API.md` is in `/openapi.json` and the other way round, every admin route it
//! lists answers, `docs/CONFIG.md` names every key of `config/example.yaml`, and the README
//! links only to files in the repository.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text under `## {heading}`, up to the next `## `.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading}"));
    let rest = &doc[start + heading.len() + 5..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// `(method, path)` of every `` `METHOD /path` `` in `text` (query strings dropped; `ANY`
/// is the five methods).
fn routes_in(text: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for span in text.split('`').skip(1).step_by(2) {
        let Some((method, path)) = span.split_once(' ') else {
            continue;
        };
        if !path.starts_with('/') || path.contains(' ') {
            continue;
        }
        let path = path.split('?').next().unwrap().to_string();
        let methods: Vec<String> = match method {
            "ANY" => METHODS.iter().map(|m| m.to_string()).collect(),
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" => vec![method.to_lowercase()],
            _ => continue,
        };
        for m in methods {
            routes.insert((m, path.clone()));
        }
    }
    routes
}

/// `(status, code)` of every row `| 404 | `not_found` | ... |` in `text`.
fn codes_in(text: &str) -> BTreeSet<(u16, String)> {
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let status = cells.get(1)?.parse::<u16>().ok()?;
            let code = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((status, code.to_string()))
        })
        .collect()
}

async fn served_document(h: &Harness) -> Value {
    let res = h.http.get(h.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn every_route_in_the_api_reference_is_in_the_openapi_document_and_back() {
    let h = Harness::start().await;
    let doc = served_document(&h).await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                documented.insert((method.to_string(), path.clone()));
            }
        }
    }
    let api = read("docs/API.md");
    let routes = section(&api, "Routes");
    let (tenant, admin) = routes.split_once("Admin listener").unwrap();
    let mut referenced = routes_in(tenant);
    // The document does not list itself; it is served, on both listeners.
    assert!(referenced.remove(&("get".into(), "/openapi.json".into())));
    assert_eq!(
        h.http
            .get(format!("{}/openapi.json", h.admin))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        referenced, documented,
        "docs/API.md (left) and /openapi.json (right) list different routes"
    );

    let admin = routes_in(admin);
    assert!(admin.len() >= 4, "{admin:?}");
    for (method, path) in admin {
        assert_eq!(method, "get");
        let res = h
            .http
            .get(format!("{}{path}", h.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "admin {path}");
    }
}

#[tokio::test]
async fn every_error_code_in_the_api_reference_is_in_the_openapi_document_and_back() {
    let h = Harness::start().await;
    let doc = served_document(&h).await;
    let described = doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]
        ["description"]
        .as_str()
        .unwrap();
    let in_document = codes_in(described);
    let api = read("docs/API.md");
    let in_reference = codes_in(section(&api, "Errors"));
    assert!(in_reference.len() >= 16, "{in_reference:?}");
    assert_eq!(
        in_reference, in_document,
        "docs/API.md (left) and /openapi.json (right) list different error codes"
    );
    // And every status the document says an operation answers with the error shape is one
    // of those codes' statuses.
    let statuses: BTreeSet<u16> = in_reference.iter().map(|(s, _)| *s).collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(responses) = op.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for (status, response) in responses {
                let Ok(status) = status.parse::<u16>() else {
                    continue;
                };
                let is_error = response.get("$ref").and_then(Value::as_str).is_some();
                if status >= 400 && is_error {
                    assert!(
                        statuses.contains(&status),
                        "{method} {path} answers {status}"
                    );
                }
            }
        }
    }
}

/// Every key under a mapping of the example config, with its leaf name.
fn keys(value: &serde_yaml::Value, out: &mut BTreeSet<String>) {
    if let serde_yaml::Value::Mapping(map) = value {
        for (k, v) in map {
            if let Some(k) = k.as_str() {
                out.insert(k.to_string());
            }
            keys(v, out);
        }
    }
}

#[test]
fn the_config_reference_names_every_key_of_the_example() {
    let example: serde_yaml::Value = serde_yaml::from_str(&read("config/example.yaml")).unwrap();
    let reference = read("docs/CONFIG.md");
    let serde_yaml::Value::Mapping(top) = &example else {
        panic!("not a mapping")
    };
    let mut missing = Vec::new();
    for (section, value) in top {
        let section = section.as_str().unwrap();
        let mut names = BTreeSet::new();
        match section {
            // Names of providers and tenants are the user's; their settings are the keys.
            "providers" | "tenants" => {
                for entry in value.as_mapping().unwrap().values() {
                    if let serde_yaml::Value::Mapping(settings) = entry {
                        for (k, v) in settings {
                            names.insert(k.as_str().unwrap().to_string());
                            // routes and upstream_keys map user names; the rest are keys.
                            if !matches!(k.as_str(), Some("routes" | "upstream_keys")) {
                                keys(v, &mut names);
                            }
                        }
                    }
                }
            }
            _ => keys(value, &mut names),
        }
        names.insert(section.to_string());
        for name in names {
            if !reference.contains(&format!("`{name}`"))
                && !reference.contains(&format!("### `{name}`"))
            {
                missing.push(format!("{section}.{name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/CONFIG.md does not name: {missing:?}"
    );
}

#[test]
fn the_readme_links_only_inside_the_repository() {
    let readme = read("README.md");
    assert!(
        !readme.contains("../shared"),
        "README points outside the repository"
    );
    for (i, _) in readme.match_indices("](") {
        let target = &readme[i + 2..];
        let target = &target[..target.find(')').unwrap()];
        if target.starts_with('#') {
            continue;
        }
        assert!(
            !target.contains("://"),
            "README links out of the repository: {target}"
        );
        let file = target.split('#').next().unwrap();
        assert!(
            repo().join(file).exists(),
            "README links to a missing file: {target}"
        );
    }
    for doc in ["docs/API.md", "docs/CONFIG.md", "docs/SECURITY.md"] {
        assert!(
            readme.contains(&format!("({doc})")),
            "README does not link {doc}"
        );
    }
}
