//! What a pass-through request does to a provider's tasks, read from its method and path in
//! the provider's dialect. On a provider key that several tenants share, the provider cannot
//! tell them apart, so the gateway uses this to keep each tenant to its own tasks.

use reqwest::Method;

/// A pass-through request, as far as the tasks of a shared account go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassthroughRoute {
    /// Creates a task; the answer carries its id (read it with `parse_create`).
    Create,
    /// Reads or cancels the task whose id is in the path.
    Task(String),
    /// Reads the task whose id is the named string field of the JSON request body
    /// (CometAPI compat's `POST /runway/feed`).
    TaskInBody(&'static str),
    /// Touches nothing that belongs to another tenant (Runway's upload slots).
    Unowned,
    /// Anything else: account-wide data (organization, usage, credits) or a route this
    /// dialect does not model. Not safe on a shared key.
    Account,
}

/// The path's segments after percent-decoding, or `None` when one does not decode to UTF-8.
/// A route is recognised only by its exact segments, so an id cannot smuggle a `/`.
pub(crate) fn segments(path: &str) -> Option<Vec<String>> {
    let path = path.split('?').next().unwrap_or_default();
    path.strip_prefix('/')?
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        })
        .collect()
}

/// GET or HEAD: reads.
pub(crate) fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Runway's own routes, under `prefix` (`""` for Runway, `"runwayml"` for CometAPI's
/// official format): `POST /v1/{generation}` creates, `GET`/`DELETE /v1/tasks/{id}` reads or
/// cancels, `POST /v1/uploads` makes an upload slot.
pub(crate) fn runway_route(prefix: &[&str], method: &Method, path: &str) -> PassthroughRoute {
    let Some(segments) = segments(path) else {
        return PassthroughRoute::Account;
    };
    let Some(rest) = strip_segments(&segments, prefix) else {
        return PassthroughRoute::Account;
    };
    match rest.as_slice() {
        ["v1", "tasks", id] if is_read(method) || method == Method::DELETE => {
            PassthroughRoute::Task((*id).to_string())
        }
        ["v1", "uploads"] if method == Method::POST => PassthroughRoute::Unowned,
        ["v1", "tasks" | "organization" | "uploads"] => PassthroughRoute::Account,
        ["v1", generation] if method == Method::POST && is_generation_name(generation) => {
            PassthroughRoute::Create
        }
        _ => PassthroughRoute::Account,
    }
}

/// `image_to_video`, `video_upscale`, …: Runway names its generation routes in snake case,
/// so a new one is a create without a code change here.
fn is_generation_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `segments` without the leading `prefix`, as string slices.
pub(crate) fn strip_segments<'a>(segments: &'a [String], prefix: &[&str]) -> Option<Vec<&'a str>> {
    if segments.len() < prefix.len() || segments.iter().zip(prefix).any(|(s, p)| s.as_str() != *p) {
        return None;
    }
    Some(
        segments[prefix.len()..]
            .iter()
            .map(String::as_str)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{adapter_for, AdapterSettings, ProviderKind};

    fn route(kind: ProviderKind, method: Method, path: &str) -> PassthroughRoute {
        adapter_for(kind, &AdapterSettings::default()).passthrough_route(&method, path)
    }

    fn task(id: &str) -> PassthroughRoute {
        PassthroughRoute::Task(id.to_string())
    }

    #[test]
    fn runway_routes_by_method_and_path() {
        use PassthroughRoute::*;
        let k = ProviderKind::Runway;
        assert_eq!(route(k, Method::POST, "/v1/image_to_video"), Create);
        assert_eq!(route(k, Method::POST, "/v1/text_to_video"), Create);
        assert_eq!(route(k, Method::GET, "/v1/tasks/abc-1"), task("abc-1"));
        assert_eq!(route(k, Method::HEAD, "/v1/tasks/abc-1"), task("abc-1"));
        assert_eq!(route(k, Method::DELETE, "/v1/tasks/abc-1"), task("abc-1"));
        assert_eq!(route(k, Method::GET, "/v1/tasks/abc-1?x=1"), task("abc-1"));
        assert_eq!(route(k, Method::GET, "/v1/tasks/a%62c"), task("abc"));
        assert_eq!(route(k, Method::POST, "/v1/uploads"), Unowned);
        for (method, path) in [
            (Method::GET, "/v1/organization"),
            (Method::POST, "/v1/organization/usage"),
            (Method::GET, "/v1/tasks"),
            (Method::POST, "/v1/tasks/abc-1"),
            (Method::GET, "/v1/tasks/abc-1/extra"),
            (Method::GET, "/v1/tasks/a%2Fb/c"),
            (Method::POST, "/v1/tasks"),
            (Method::GET, "/v1/image_to_video"),
            (Method::POST, "/v1/Image-To-Video"),
            (Method::POST, "/v2/image_to_video"),
            (Method::GET, "/v1/tasks/%ff"),
            (Method::GET, "/_sim/echo"),
            (Method::GET, "runway"),
        ] {
            assert_eq!(route(k, method.clone(), path), Account, "{method} {path}");
        }
    }

    #[test]
    fn cometapi_official_routes_are_runways_under_runwayml() {
        use PassthroughRoute::*;
        let k = ProviderKind::CometapiOfficial;
        assert_eq!(
            route(k, Method::POST, "/runwayml/v1/image_to_video"),
            Create
        );
        assert_eq!(route(k, Method::GET, "/runwayml/v1/tasks/t1"), task("t1"));
        assert_eq!(route(k, Method::GET, "/v1/tasks/t1"), Account);
        assert_eq!(route(k, Method::POST, "/runway/feed"), Account);
    }

    #[test]
    fn cometapi_compat_reads_by_feed_body() {
        use PassthroughRoute::*;
        let k = ProviderKind::CometapiCompat;
        assert_eq!(route(k, Method::POST, "/runway/pro/generate"), Create);
        assert_eq!(route(k, Method::POST, "/runway/pro/act_one"), Create);
        assert_eq!(
            route(k, Method::POST, "/runway/feed"),
            TaskInBody("task_id")
        );
        assert_eq!(route(k, Method::GET, "/runway/feed"), Account);
        assert_eq!(route(k, Method::POST, "/runwayml/v1/tasks/t1"), Account);
        assert_eq!(route(k, Method::GET, "/runwayml/v1/tasks/t1"), Account);
    }

    #[test]
    fn makevid_routes() {
        use PassthroughRoute::*;
        let k = ProviderKind::Makevid;
        assert_eq!(route(k, Method::POST, "/api/v1/create_runway"), Create);
        assert_eq!(route(k, Method::GET, "/api/v1/get_runway/m-1"), task("m-1"));
        assert_eq!(route(k, Method::DELETE, "/api/v1/get_runway/m-1"), Account);
        assert_eq!(route(k, Method::GET, "/api/v1/list"), Account);
    }
}
