//! The config contract, as a table of files and the problems they must produce.

// Helpers here are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use taskgate_config::{
    format_key_hash, from_yaml, hash_key, load, Config, ConfigErrors, RateLimit, StoreConfig,
};
use taskgate_core::{ProviderKind, Secret, TaskType};
use taskgate_outputs::{OutputSettings, S3Settings, StorageKind, StorageSettings};

const WEBHOOK_SECRET: &str = "whsec_ZXhhbXBsZS13ZWJob29rLXNlY3JldC0zMi1ieXRlcyE=";

/// Provides every variable the examples use, with a plausible value for its kind.
fn fake_env(name: &str) -> Option<String> {
    let value = match name {
        "NOPE" | "ALSO_NOPE" => return None,
        "INJECT" => "x\nextra: 1".to_string(),
        "MAX_BODY" => "2048".to_string(),
        n if n.ends_with("_KEY_HASH") => format_key_hash(&hash_key("tg_demo")),
        n if n.ends_with("_WEBHOOK_SECRET") => WEBHOOK_SECRET.to_string(),
        "DATABASE_URL" => "postgres://taskgate:pw-db-secret@db/taskgate".to_string(),
        "REDIS_URL" => "redis://:pw-redis-secret@127.0.0.1:6379".to_string(),
        n if n.ends_with("_URL") => "http://127.0.0.1:9999".to_string(),
        _ => format!("secret-value-of-{name}"),
    };
    Some(value)
}

fn parse(yaml: &str) -> Result<Config, ConfigErrors> {
    from_yaml(yaml, &fake_env)
}

fn problems(yaml: &str) -> Vec<(String, String)> {
    match parse(yaml) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|p| (p.path, p.message)).collect(),
    }
}

const HASH_A: &str = "sha256:211cc0e88d2c07c65863c75c7fb9d389c0e5bd27bb2c7582af73582eedbfea90";
const HASH_B: &str = "sha256:06610985f26480ed269d76555877d75589806187fb842d0c927a3e34f837a65e";

/// A small valid file; cases replace one line of it (`{...}` markers are filled by `with`).
const BASE: &str = "
providers:
  makevid:
    type: makevid
    base_url: https://makevid.ai
    api_key: ${MAKEVID_KEY}
  runway:
    type: runway
    base_url: https://api.dev.runwayml.com
    api_key: ${RUNWAY_KEY}
tenants:
  acme:
    keys: [HASH_A]
    routes:
      image_to_video: [makevid, runway]
";

fn base() -> String {
    BASE.replace("HASH_A", HASH_A)
}

/// The base with `from` replaced by `to` (which must be found).
fn with(from: &str, to: &str) -> String {
    let base = base();
    assert!(base.contains(from), "{from:?} is not in the base file");
    base.replacen(from, to, 1)
}

/// The base with a `comet-compat` provider (`cometapi_compat`), `route` added to the tenant's
/// routes and `server` put before it all.
fn with_compat(route: &str, server: &str) -> String {
    let provider = "  comet-compat:\n    type: cometapi_compat\n    base_url: https://api.cometapi.com\n    api_key: ${COMETAPI_KEY}\n";
    let file = with("  runway:\n", &format!("{provider}  runway:\n"));
    let file = file.replacen("    routes:\n", &format!("    routes:\n{route}"), 1);
    format!("{server}{file}")
}

/// The base with an `outputs` section whose lines (indented under `outputs:`) are `section`.
fn with_outputs(section: &str) -> String {
    format!("{}outputs:\n{section}", base())
}

/// `with_outputs` of an s3 storage with a bucket, `storage` more lines under `storage:` and
/// `rest` more lines under `outputs:`.
fn with_s3(storage: &str, rest: &str) -> String {
    with_outputs(&format!(
        "  storage:\n    kind: s3\n    bucket: taskgate-outputs\n{storage}{rest}"
    ))
}

/// The problems a case must give, in order: (path, a piece of the message).
type Expected = Vec<(&'static str, &'static str)>;

/// Each case: a name, a file, and exactly the problems it must give.
fn cases() -> Vec<(&'static str, String, Expected)> {
    vec![
        ("base is valid", base(), vec![]),
        (
            "missing env var is named at its path",
            with("${MAKEVID_KEY}", "${NOPE}"),
            vec![("providers.makevid.api_key", "environment variable NOPE is not set")],
        ),
        (
            "every missing env var in one value",
            with("${MAKEVID_KEY}", "${NOPE}-${ALSO_NOPE}"),
            vec![
                ("providers.makevid.api_key", "environment variable NOPE is not set"),
                ("providers.makevid.api_key", "environment variable ALSO_NOPE is not set"),
            ],
        ),
        (
            "unknown key at the top",
            format!("{}servers: {{}}\n", base()),
            vec![("<root>", "unknown field 'servers'")],
        ),
        (
            "unknown key in a section",
            format!("{}server:\n  listne: 127.0.0.1:1\n", base()),
            vec![("server", "unknown field 'listne'")],
        ),
        (
            "unknown key in a provider",
            with("    type: makevid\n", "    type: makevid\n    apikey: x\n"),
            vec![("providers.makevid", "unknown field 'apikey'")],
        ),
        (
            "unknown key in a tenant's rate limit",
            with("    routes:\n", "    rate_limit: {per_minute: 5, per_day: 1}\n    routes:\n"),
            vec![("tenants.acme.rate_limit", "unknown field 'per_day'")],
        ),
        (
            "bad durations",
            format!(
                "{}tasks:\n  watch_every: 5\n  give_up_after: 0s\n",
                with("    type: runway\n", "    type: runway\n    timeout: 1.5s\n")
            ),
            vec![
                ("providers.runway.timeout", "'1.5s' is not a duration"),
                ("tasks.give_up_after", "must be longer than 0"),
                ("tasks.watch_every", "'5' is not a duration"),
            ],
        ),
        (
            "route to an unknown provider",
            with("[makevid, runway]", "[makevid, makevd]"),
            vec![("tenants.acme.routes.image_to_video[1]", "unknown provider 'makevd'")],
        ),
        (
            "route to a provider that cannot run the type",
            with("      image_to_video", "      text_to_image: [makevid]\n      image_to_video"),
            vec![(
                "tenants.acme.routes.text_to_image[0]",
                "provider 'makevid' (type makevid) cannot run text_to_image",
            )],
        ),
        (
            "route to a provider that needs a callback URL, without server.public_url",
            with_compat("      character_performance: [runway, comet-compat]\n", ""),
            vec![(
                "tenants.acme.routes.character_performance[1]",
                "provider 'comet-compat' (type cometapi_compat) cannot run character_performance without server.public_url (it needs a callback URL to create this type)",
            )],
        ),
        (
            "route to a provider that needs a callback URL, with server.public_url",
            with_compat(
                "      character_performance: [comet-compat]\n",
                "server: {public_url: \"https://taskgate.example.com\"}\n",
            ),
            vec![],
        ),
        (
            "a bad server.public_url is its own problem, not the routes'",
            with_compat(
                "      character_performance: [comet-compat]\n",
                "server: {public_url: \"ftp://x\"}\n",
            ),
            vec![("server.public_url", "must be an http or https URL")],
        ),
        (
            "an unreadable server section is its own problem, not the routes'",
            with_compat(
                "      character_performance: [comet-compat]\n",
                "server: {public_url: \"https://taskgate.example.com\", colour: blue}\n",
            ),
            vec![("server", "unknown field 'colour'")],
        ),
        (
            "unknown task type",
            with("image_to_video:", "image_to_vid:"),
            vec![("tenants.acme.routes.image_to_vid", "unknown task type 'image_to_vid': expected one of text_to_video, image_to_video")],
        ),
        (
            "empty route and a provider twice",
            with(
                "[makevid, runway]",
                "[makevid, runway, makevid]\n      text_to_video: []",
            ),
            vec![
                ("tenants.acme.routes.image_to_video[2]", "provider 'makevid' is already on this route"),
                ("tenants.acme.routes.text_to_video", "must name at least one provider"),
            ],
        ),
        (
            "duplicate key hash across tenants, whatever the case",
            format!(
                "{}  beta:\n    keys: [{HASH_B}, \"{}\"]\n",
                base(),
                HASH_A.to_uppercase().replace("SHA256:", "sha256:")
            ),
            vec![("tenants.beta.keys[1]", "the same key hash as tenants.acme.keys[0]")],
        ),
        (
            "duplicate key hash in one tenant",
            with("[HASH_A]".replace("HASH_A", HASH_A).as_str(), &format!("[{HASH_A}, {HASH_A}]")),
            vec![("tenants.acme.keys[1]", "the same key hash as tenants.acme.keys[0]")],
        ),
        (
            "bad key hash formats",
            with(HASH_A, &format!("tg_raw_key, sha256:abc, {}", HASH_A.replace("sha256", "sha1"))),
            vec![
                ("tenants.acme.keys[0]", "must be 'sha256:' and 64 hex digits"),
                ("tenants.acme.keys[1]", "must be 'sha256:' and 64 hex digits"),
                ("tenants.acme.keys[2]", "must be 'sha256:' and 64 hex digits"),
            ],
        ),
        (
            "no keys",
            with(&format!("[{HASH_A}]"), "[]"),
            vec![("tenants.acme.keys", "at least one key hash")],
        ),
        (
            "bad webhook secrets",
            format!(
                "{}  b1:\n    keys: [{HASH_B}]\n    webhook_secret: secret123\n  b2:\n    keys: [sha256:{}]\n    webhook_secret: whsec_c2hvcnQ=\n  b3:\n    keys: [sha256:{}]\n    webhook_secret: whsec_!!!\n",
                base(),
                "1".repeat(64),
                "2".repeat(64)
            ),
            vec![
                ("tenants.b1.webhook_secret", "must start with 'whsec_'"),
                ("tenants.b2.webhook_secret", "at least 16 bytes"),
                ("tenants.b3.webhook_secret", "not valid base64"),
            ],
        ),
        (
            "rate limit with two periods",
            with("    routes:\n", "    rate_limit: {per_second: 5, per_minute: 100}\n    routes:\n"),
            vec![("tenants.acme.rate_limit", "give only one of per_second, per_minute, per_hour")],
        ),
        (
            "rate limit with no period",
            with("    type: runway\n", "    type: runway\n    rate_limit: {burst: 5}\n"),
            vec![("providers.runway.rate_limit", "needs one of per_second, per_minute, per_hour")],
        ),
        (
            "rate limit of zero",
            with("    type: runway\n", "    type: runway\n    rate_limit: {per_hour: 0}\n"),
            vec![("providers.runway.rate_limit.per_hour", "must be a positive integer")],
        ),
        (
            "cluster without postgres",
            format!("{}cluster:\n  redis_url: redis://127.0.0.1:6379\n", base()),
            vec![("cluster", "several replicas need store.kind: postgres (store.kind is sqlite)")],
        ),
        (
            "cluster without redis_url",
            format!("{}store: {{kind: postgres, url: postgres://db/x}}\ncluster: {{replica_id: a}}\n", base()),
            vec![("cluster.redis_url", "missing required field")],
        ),
        (
            "cluster namespace with a space",
            format!("{}store: {{kind: postgres, url: postgres://db/x}}\ncluster: {{redis_url: redis://r, namespace: \"a b\"}}\n", base()),
            vec![("cluster.namespace", "must be 1 to 64 characters of A-Z a-z 0-9 _ - . :")],
        ),
        (
            "cluster namespace empty",
            format!("{}store: {{kind: postgres, url: postgres://db/x}}\ncluster: {{redis_url: redis://r, namespace: \"\"}}\n", base()),
            vec![("cluster.namespace", "must be 1 to 64 characters of A-Z a-z 0-9 _ - . :")],
        ),
        (
            "cluster with an unknown key",
            format!("{}store: {{kind: postgres, url: postgres://db/x}}\ncluster: {{redis_url: redis://r, namepsace: x}}\n", base()),
            vec![("cluster", "unknown field 'namepsace'")],
        ),
        (
            "postgres without url",
            format!("{}store:\n  kind: postgres\n", base()),
            vec![("store.url", "required for store kind postgres")],
        ),
        (
            "path with postgres",
            format!("{}store:\n  kind: postgres\n  path: x.db\n  url: ${{DATABASE_URL}}\n", base()),
            vec![("store.path", "is not used by store kind postgres")],
        ),
        (
            "url with sqlite",
            format!("{}store: {{url: \"${{DATABASE_URL}}\"}}\n", base()),
            vec![("store.url", "is not used by store kind sqlite")],
        ),
        (
            "unknown store kind",
            format!("{}store: {{kind: mysql}}\n", base()),
            vec![("store.kind", "unknown store kind 'mysql': expected one of memory, sqlite, postgres")],
        ),
        (
            "unknown provider type lists the allowed ones",
            with("type: runway", "type: runwayml"),
            vec![(
                "providers.runway.type",
                "unknown provider type 'runwayml': expected one of cometapi_compat, cometapi_official, runway, makevid",
            )],
        ),
        (
            "provider without type, base_url or key",
            with("providers:\n", "providers:\n  bare: {}\n  bare2: {type: runway}\n"),
            vec![
                ("providers.bare.type", "missing required field: one of cometapi_compat"),
                ("providers.bare2.api_key", "missing required field"),
                ("providers.bare2.base_url", "missing required field"),
            ],
        ),
        (
            "bad provider and tenant names",
            with("  makevid:\n", "  MakeVid:\n    type: makevid\n    base_url: https://makevid.ai\n    api_key: k\n  makevid:\n")
                .replace("  acme:\n", "  _acme:\n"),
            vec![
                ("providers.MakeVid", "name 'MakeVid' must match [a-z0-9][a-z0-9_-]*"),
                ("tenants._acme", "name '_acme' must match [A-Za-z0-9][A-Za-z0-9_-]*"),
            ],
        ),
        (
            "base_url must be absolute http(s) without credentials",
            with("https://makevid.ai", "makevid.ai").replace(
                "https://api.dev.runwayml.com",
                "https://user:pw-in-url@api.dev.runwayml.com",
            ),
            vec![
                ("providers.makevid.base_url", "is not an absolute URL"),
                ("providers.runway.base_url", "must not hold credentials"),
            ],
        ),
        (
            "retries at most 10, runway_version only where used",
            with("    type: makevid\n", "    type: makevid\n    retries: 11\n    runway_version: \"2024-11-06\"\n"),
            vec![
                ("providers.makevid.retries", "must be at most 10"),
                ("providers.makevid.runway_version", "is not used by provider type makevid"),
            ],
        ),
        (
            "negative retries is a type error at its path",
            with("    type: makevid\n", "    type: makevid\n    retries: -1\n"),
            vec![("providers.makevid.retries", "expected an unsigned")],
        ),
        (
            "upstream key for an unknown provider, and an empty one",
            with("    routes:\n", "    upstream_keys: {comet: k, runway: \"\"}\n    routes:\n"),
            vec![
                ("tenants.acme.upstream_keys.comet", "unknown provider 'comet'"),
                ("tenants.acme.upstream_keys.runway", "must not be empty"),
            ],
        ),
        (
            "bad callback hosts",
            with("    routes:\n", "    allowed_callback_hosts: [ok.example, \"https://x.example\", \"x.example:443\"]\n    routes:\n"),
            vec![
                ("tenants.acme.allowed_callback_hosts[1]", "is not a host name"),
                ("tenants.acme.allowed_callback_hosts[2]", "is not a host name"),
            ],
        ),
        (
            "max_unfinished_tasks must be positive",
            with("    routes:\n", "    max_unfinished_tasks: 0\n    routes:\n"),
            vec![("tenants.acme.max_unfinished_tasks", "must be greater than 0")],
        ),
        (
            "max_concurrent below 1 or above 100000",
            with("    type: makevid\n", "    type: makevid\n    max_concurrent: 0\n")
                .replace("    type: runway\n", "    type: runway\n    max_concurrent: 100001\n"),
            vec![
                ("providers.makevid.max_concurrent", "must be from 1 to 100000"),
                ("providers.runway.max_concurrent", "must be from 1 to 100000"),
            ],
        ),
        (
            "max_concurrent far too large, negative, or not a number",
            with("    type: makevid\n", "    type: makevid\n    max_concurrent: 99999999999\n")
                .replace("    type: runway\n", "    type: runway\n    max_concurrent: -1\n")
                .replace("providers:\n", "providers:\n  other:\n    type: makevid\n    base_url: https://makevid.ai\n    api_key: k\n    max_concurrent: lots\n"),
            vec![
                ("providers.makevid.max_concurrent", "must be from 1 to 100000"),
                ("providers.other.max_concurrent", "invalid value: string \"lots\", expected a whole number"),
                ("providers.runway.max_concurrent", "invalid value: integer '-1', expected a whole number of 0 or more"),
            ],
        ),
        (
            "queue_weight below 1 or above 1000",
            format!(
                "{}  beta:\n    keys: [{HASH_B}]\n    queue_weight: 1001\n",
                with("    routes:\n", "    queue_weight: 0\n    routes:\n")
            ),
            vec![
                ("tenants.acme.queue_weight", "must be from 1 to 1000"),
                ("tenants.beta.queue_weight", "must be from 1 to 1000"),
            ],
        ),
        (
            "queue_weight negative or not a number",
            format!(
                "{}  beta:\n    keys: [{HASH_B}]\n    queue_weight: heavy\n",
                with("    routes:\n", "    queue_weight: -2\n    routes:\n")
            ),
            vec![
                ("tenants.acme.queue_weight", "expected a whole number of 0 or more"),
                ("tenants.beta.queue_weight", "invalid value: string \"heavy\", expected a whole number"),
            ],
        ),
        (
            "fractional or boolean queue settings are not rounded",
            format!(
                "{}  beta:\n    keys: [{HASH_B}]\n    queue_weight: true\n",
                with("    routes:\n", "    queue_weight: 2.5\n    routes:\n")
                    .replace("    type: runway\n", "    type: runway\n    max_concurrent: 4.0\n")
            ),
            vec![
                ("providers.runway.max_concurrent", "invalid type: floating point '4.0', expected a whole number"),
                ("tenants.acme.queue_weight", "invalid type: floating point '2.5', expected a whole number"),
                ("tenants.beta.queue_weight", "invalid type: boolean 'true', expected a whole number"),
            ],
        ),
        (
            "max_queued negative, fractional or not a number",
            format!(
                "{}  beta:\n    keys: [{HASH_B}]\n    max_queued: lots\n  gamma:\n    keys: [sha256:{}]\n    max_queued: 0.5\n",
                with("    routes:\n", "    max_queued: -1\n    routes:\n"),
                "3".repeat(64)
            ),
            vec![
                ("tenants.acme.max_queued", "expected a whole number of 0 or more"),
                ("tenants.beta.max_queued", "invalid value: string \"lots\", expected a whole number"),
                ("tenants.gamma.max_queued", "invalid type: floating point '0.5', expected a whole number"),
            ],
        ),
        (
            "max_queued_for zero",
            format!("{}tasks:\n  max_queued_for: 0s\n", base()),
            vec![("tasks.max_queued_for", "must be longer than 0")],
        ),
        (
            "max_queued_for without a unit, or not a duration",
            format!("{}tasks:\n  max_queued_for: 3600\n", base()),
            vec![("tasks.max_queued_for", "'3600' is not a duration")],
        ),
        (
            "max_queued_for in words",
            format!("{}tasks:\n  max_queued_for: an hour\n", base()),
            vec![("tasks.max_queued_for", "'an hour' is not a duration")],
        ),
        (
            "server values",
            format!("{}server:\n  listen: localhost:80\n  max_body_bytes: 0\n  public_url: ftp://x\n  request_timeout: 0ms\n", base()),
            vec![
                ("server.listen", "is not an IP address and port"),
                ("server.max_body_bytes", "must be greater than 0"),
                ("server.public_url", "must be an http or https URL"),
                ("server.request_timeout", "must be longer than 0"),
            ],
        ),
        (
            "edge limits out of range, and a body bound longer than the whole request",
            format!("{}server:\n  request_timeout: 5s\n  body_read_timeout: 6s\n  max_header_count: 0\n  max_header_bytes: 300000\n", base()),
            vec![
                ("server.body_read_timeout", "must not be longer than server.request_timeout"),
                ("server.max_header_bytes", "must be from 1024 to 262144"),
                ("server.max_header_count", "must be from 1 to 1000"),
            ],
        ),
        (
            "a zero body bound and a header count past the ceiling",
            format!("{}server:\n  body_read_timeout: 0s\n  max_header_count: 1001\n  max_header_bytes: 512\n", base()),
            vec![
                ("server.body_read_timeout", "must be longer than 0"),
                ("server.max_header_bytes", "must be from 1024 to 262144"),
                ("server.max_header_count", "must be from 1 to 1000"),
            ],
        ),
        (
            "outputs: valid local storage",
            with_outputs("  storage: {kind: local, path: data/outputs}\n"),
            vec![],
        ),
        (
            "outputs: valid s3 storage",
            with_s3("", ""),
            vec![],
        ),
        (
            "outputs: an empty section is no section",
            format!("{}outputs:\n", base()),
            vec![],
        ),
        (
            "outputs: a section without storage",
            with_outputs("  url_ttl: 1h\n"),
            vec![("outputs.storage", "missing required field")],
        ),
        (
            "outputs: storage without a kind",
            with_outputs("  storage: {path: data/outputs}\n"),
            vec![("outputs.storage.kind", "missing required field: one of local, s3")],
        ),
        (
            "outputs: unknown storage kind",
            with_outputs("  storage: {kind: gcs, bucket: b}\n"),
            vec![("outputs.storage.kind", "unknown storage kind 'gcs': expected one of local, s3")],
        ),
        (
            "outputs: unknown key in the section",
            with_outputs("  storage: {kind: local, path: x}\n  keep: 1d\n"),
            vec![("outputs", "unknown field 'keep'")],
        ),
        (
            "outputs: unknown key in storage",
            with_outputs("  storage: {kind: s3, buckett: b}\n"),
            vec![("outputs.storage", "unknown field 'buckett'")],
        ),
        (
            "outputs: local without a path",
            with_outputs("  storage: {kind: local}\n"),
            vec![("outputs.storage.path", "required for storage kind local")],
        ),
        (
            "outputs: local with an empty path",
            with_outputs("  storage: {kind: local, path: \"\"}\n"),
            vec![("outputs.storage.path", "must not be empty")],
        ),
        (
            "outputs: s3 keys with local storage are refused, each at its path",
            with_outputs("  storage:\n    kind: local\n    path: data/outputs\n    bucket: b\n    prefix: p\n    region: eu-west-1\n    endpoint: http://127.0.0.1:9000\n    access_key_id: ${S3_ACCESS_KEY_ID}\n    secret_access_key: ${S3_SECRET_ACCESS_KEY}\n"),
            vec![
                ("outputs.storage.access_key_id", "is not used by storage kind local"),
                ("outputs.storage.bucket", "is not used by storage kind local"),
                ("outputs.storage.endpoint", "is not used by storage kind local"),
                ("outputs.storage.prefix", "is not used by storage kind local"),
                ("outputs.storage.region", "is not used by storage kind local"),
                ("outputs.storage.secret_access_key", "is not used by storage kind local"),
            ],
        ),
        (
            "outputs: a path with s3 storage",
            with_s3("    path: data/outputs\n", ""),
            vec![("outputs.storage.path", "is not used by storage kind s3")],
        ),
        (
            "outputs: s3 storage without a bucket",
            with_outputs("  storage: {kind: s3, region: eu-west-1}\n"),
            vec![("outputs.storage.bucket", "required for storage kind s3")],
        ),
        (
            "outputs: s3 bucket empty",
            with_outputs("  storage: {kind: s3, bucket: \"\"}\n"),
            vec![("outputs.storage.bucket", "must not be empty")],
        ),
        (
            "outputs: s3 bucket with a '/'",
            with_outputs("  storage: {kind: s3, bucket: outputs/prod}\n"),
            vec![("outputs.storage.bucket", "must be a bucket name without '/' (put a key prefix in prefix)")],
        ),
        (
            "outputs: s3 region empty",
            with_s3("    region: \"\"\n", ""),
            vec![("outputs.storage.region", "must not be empty")],
        ),
        (
            "outputs: s3 endpoint not http(s)",
            with_s3("    endpoint: ftp://127.0.0.1:9000\n", ""),
            vec![("outputs.storage.endpoint", "must be an http or https URL")],
        ),
        (
            "outputs: s3 endpoint without a scheme",
            with_s3("    endpoint: minio:9000\n", ""),
            vec![("outputs.storage.endpoint", "must be an http or https URL")],
        ),
        (
            "outputs: s3 endpoint not a URL",
            with_s3("    endpoint: 127.0.0.1:9000\n", ""),
            vec![("outputs.storage.endpoint", "is not an absolute URL")],
        ),
        (
            "outputs: s3 endpoint with credentials",
            with_s3("    endpoint: http://minio:pw-in-endpoint@127.0.0.1:9000\n", ""),
            vec![("outputs.storage.endpoint", "must not hold credentials (put them in access_key_id and secret_access_key)")],
        ),
        (
            "outputs: s3 endpoint with a query",
            with_s3("    endpoint: http://127.0.0.1:9000/?x=1\n", ""),
            vec![("outputs.storage.endpoint", "must not have a query or fragment")],
        ),
        (
            "outputs: s3 access_key_id without secret_access_key",
            with_s3("    access_key_id: ${S3_ACCESS_KEY_ID}\n", ""),
            vec![("outputs.storage.secret_access_key", "required with access_key_id (give both keys, or neither for the ambient AWS credentials)")],
        ),
        (
            "outputs: s3 secret_access_key without access_key_id",
            with_s3("    secret_access_key: ${S3_SECRET_ACCESS_KEY}\n", ""),
            vec![("outputs.storage.access_key_id", "required with secret_access_key (give both keys, or neither for the ambient AWS credentials)")],
        ),
        (
            "outputs: s3 keys empty or with whitespace",
            with_s3("    access_key_id: \"\"\n    secret_access_key: \" sk \"\n", ""),
            vec![
                ("outputs.storage.access_key_id", "must not be empty"),
                ("outputs.storage.secret_access_key", "has leading or trailing whitespace"),
            ],
        ),
        (
            "outputs: s3 key from an unset variable",
            with_s3("    access_key_id: ${NOPE}\n    secret_access_key: ${S3_SECRET_ACCESS_KEY}\n", ""),
            vec![("outputs.storage.access_key_id", "environment variable NOPE is not set")],
        ),
        (
            "outputs: s3 prefix segments storage would refuse",
            with_s3("    prefix: prod/../other\n", ""),
            vec![("outputs.storage.prefix", "a prefix segment must be 1 to 128 letters, digits, '_', '-' or '.'")],
        ),
        (
            "outputs: s3 prefix with an empty segment",
            with_s3("    prefix: prod//x\n", ""),
            vec![("outputs.storage.prefix", "a prefix segment must be 1 to 128")],
        ),
        (
            "outputs: s3 prefix with a space",
            with_s3("    prefix: my outputs\n", ""),
            vec![("outputs.storage.prefix", "a prefix segment must be")],
        ),
        (
            "outputs: zero durations and max_bytes",
            with_outputs("  storage: {kind: local, path: data/outputs}\n  url_ttl: 0s\n  keep_for: 0ms\n  max_bytes: 0\n"),
            vec![
                ("outputs.keep_for", "must be longer than 0"),
                ("outputs.max_bytes", "must be greater than 0"),
                ("outputs.url_ttl", "must be longer than 0"),
            ],
        ),
        (
            "outputs: durations that are not durations",
            with_outputs("  storage: {kind: local, path: data/outputs}\n  url_ttl: 24\n  keep_for: a month\n"),
            vec![
                ("outputs.keep_for", "'a month' is not a duration"),
                ("outputs.url_ttl", "'24' is not a duration"),
            ],
        ),
        (
            "outputs: max_bytes negative",
            with_outputs("  storage: {kind: local, path: data/outputs}\n  max_bytes: -1\n"),
            vec![("outputs.max_bytes", "expected a whole number of 0 or more")],
        ),
        (
            "outputs: max_bytes fractional",
            with_outputs("  storage: {kind: local, path: data/outputs}\n  max_bytes: 2.5\n"),
            vec![("outputs.max_bytes", "invalid type: floating point '2.5', expected a whole number")],
        ),
        (
            "outputs: max_bytes in words",
            with_outputs("  storage: {kind: local, path: data/outputs}\n  max_bytes: 2GiB\n"),
            vec![("outputs.max_bytes", "invalid value: string \"2GiB\", expected a whole number")],
        ),
        (
            "outputs: s3 url_ttl past 7 days",
            with_s3("", "  url_ttl: 8d\n"),
            vec![("outputs.url_ttl", "must be at most 7d with storage kind s3 (S3 presigned URLs last at most 7 days)")],
        ),
        (
            "outputs: s3 url_ttl one millisecond past 7 days",
            with_s3("", "  url_ttl: 604800001ms\n"),
            vec![("outputs.url_ttl", "must be at most 7d with storage kind s3")],
        ),
        (
            "outputs: s3 url_ttl of exactly 7 days",
            with_s3("", "  url_ttl: 168h\n"),
            vec![],
        ),
        (
            "outputs: local url_ttl past 7 days",
            with_outputs("  storage: {kind: local, path: data/outputs}\n  url_ttl: 30d\n"),
            vec![],
        ),
        (
            "outputs: signing_key shorter than 32 bytes",
            with_outputs("  storage: {kind: local, path: data/outputs}\n  signing_key: 0123456789abcdef0123456789abcde\n"),
            vec![("outputs.signing_key", "must be at least 32 bytes")],
        ),
        (
            "outputs: signing_key of 32 bytes",
            with_outputs("  storage: {kind: local, path: data/outputs}\n  signing_key: 0123456789abcdef0123456789abcdef\n"),
            vec![],
        ),
        (
            "outputs: signing_key with a trailing newline",
            with_outputs("  storage: {kind: local, path: data/outputs}\n  signing_key: \"0123456789abcdef0123456789abcdef\\n\"\n"),
            vec![("outputs.signing_key", "has leading or trailing whitespace")],
        ),
        (
            "outputs: signing_key with s3 storage",
            with_s3("", "  signing_key: ${TASKGATE_FILES_KEY}\n"),
            vec![("outputs.signing_key", "is not used by storage kind s3")],
        ),
        (
            "outputs: every problem of the section at once",
            with_outputs("  storage: {kind: s3, path: x, endpoint: ftp://x, access_key_id: a}\n  url_ttl: 30d\n  keep_for: 0s\n  signing_key: short\n"),
            vec![
                ("outputs.keep_for", "must be longer than 0"),
                ("outputs.signing_key", "is not used by storage kind s3"),
                ("outputs.storage.bucket", "required for storage kind s3"),
                ("outputs.storage.endpoint", "must be an http or https URL"),
                ("outputs.storage.path", "is not used by storage kind s3"),
                ("outputs.storage.secret_access_key", "required with access_key_id"),
                ("outputs.url_ttl", "must be at most 7d with storage kind s3"),
            ],
        ),
        (
            "store_outputs without an outputs section",
            format!(
                "{}  beta:\n    keys: [{HASH_B}]\n    store_outputs: false\n",
                with("    routes:\n", "    store_outputs: true\n    routes:\n")
            ),
            vec![
                ("tenants.acme.store_outputs", "is not used without an outputs section (no output is stored without one)"),
                ("tenants.beta.store_outputs", "is not used without an outputs section"),
            ],
        ),
        (
            "store_outputs with an empty outputs section",
            format!(
                "{}outputs:\n",
                with("    routes:\n", "    store_outputs: true\n    routes:\n")
            ),
            vec![("tenants.acme.store_outputs", "is not used without an outputs section")],
        ),
        (
            "store_outputs with an outputs section that could not be read is the section's problem",
            format!(
                "{}outputs: {{storage: {{kind: local, path: x}}, colour: blue}}\n",
                with("    routes:\n", "    store_outputs: false\n    routes:\n")
            ),
            vec![("outputs", "unknown field 'colour'")],
        ),
        (
            "store_outputs with an outputs section with a problem is fine itself",
            format!(
                "{}outputs: {{storage: {{kind: s3}}}}\n",
                with("    routes:\n", "    store_outputs: false\n    routes:\n")
            ),
            vec![("outputs.storage.bucket", "required for storage kind s3")],
        ),
        (
            "store_outputs must be a boolean",
            with_outputs("  storage: {kind: local, path: data/outputs}\n")
                .replace("    routes:\n", "    store_outputs: sometimes\n    routes:\n"),
            vec![("tenants.acme.store_outputs", "expected a boolean")],
        ),
        (
            "at least one provider",
            "tenants: {}\n".to_string(),
            vec![("providers", "at least one provider is required")],
        ),
        (
            "not YAML",
            "providers: [\n".to_string(),
            vec![("<file>", "not a YAML map")],
        ),
        (
            "duplicate YAML keys",
            format!("{}  acme:\n    keys: [{HASH_B}]\n", base()),
            vec![("<file>", "duplicated key")],
        ),
        (
            "multiple problems in several sections, all reported, sorted by path",
            format!(
                "{}store: {{kind: postgres}}\ntasks: {{refresh_after: soon}}\n  \n",
                with("[makevid, runway]", "[makevd]")
                    .replace("${RUNWAY_KEY}", "${NOPE}")
                    .replace("    type: makevid\n", "    type: makevid\n    colour: red\n")
            ),
            vec![
                ("providers.makevid", "unknown field 'colour'"),
                ("providers.runway.api_key", "environment variable NOPE is not set"),
                ("store.url", "required for store kind postgres"),
                ("tasks.refresh_after", "'soon' is not a duration"),
                ("tenants.acme.routes.image_to_video[0]", "unknown provider 'makevd'"),
            ],
        ),
    ]
}

#[test]
fn validation_table() {
    let mut failures = Vec::new();
    for (name, yaml, expected) in cases() {
        let got = problems(&yaml);
        let matches = got.len() == expected.len()
            && got
                .iter()
                .zip(&expected)
                .all(|((path, message), (want_path, want_message))| {
                    path == want_path && message.contains(want_message)
                });
        if !matches {
            failures.push(format!(
                "{name}:\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn example_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("providers")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_example_file_is_valid() {
    let files = example_files();
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if let Err(e) = from_yaml(&text, &fake_env) {
            panic!("{}:\n{e}", file.display());
        }
    }
}

#[test]
fn each_provider_example_runs_one_provider_for_one_tenant() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/providers");
    for kind in ProviderKind::ALL {
        let text = std::fs::read_to_string(dir.join(format!("{}.yaml", kind.as_str()))).unwrap();
        let config = from_yaml(&text, &fake_env).unwrap();
        assert_eq!(config.providers.len(), 1);
        let provider = config.providers.values().next().unwrap();
        assert_eq!(provider.settings.kind, kind);
        let tenant = config.tenants.values().next().unwrap();
        // Every type the provider can run is routed to it.
        let routed: Vec<TaskType> = tenant.routes.keys().copied().collect();
        let mut runs = kind.capabilities().task_types;
        runs.sort();
        assert_eq!(routed, runs, "{}", kind.as_str());
    }
}

#[test]
fn full_example_has_all_four_provider_types_and_two_tenants() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = from_yaml(&text, &fake_env).unwrap();
    let mut kinds: Vec<&str> = config
        .providers
        .values()
        .map(|p| p.settings.kind.as_str())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["cometapi_compat", "cometapi_official", "makevid", "runway"]
    );
    assert_eq!(config.tenants.len(), 2);
    let acme = &config.tenants["acme"];
    assert_eq!(
        acme.webhook_secret.as_ref().unwrap().expose(),
        WEBHOOK_SECRET
    );
    assert_eq!(
        acme.rate_limit,
        Some(RateLimit {
            count: 600,
            period: Duration::from_secs(60),
            burst: 50
        })
    );
    assert!(acme.callback_host_allowed("a.acme.internal"));
    assert!(!acme.callback_host_allowed("elsewhere.example"));
    assert_eq!(
        config.providers["comet-compat"].settings.api_key.expose(),
        "secret-value-of-COMETAPI_KEY"
    );
    assert_eq!(config.providers["runway"].max_concurrent, Some(5));
    assert_eq!(config.providers["makevid"].max_concurrent, None);
    assert_eq!((acme.queue_weight, acme.max_queued), (2, 200));
    let beta = &config.tenants["Beta-Labs"];
    assert_eq!((beta.queue_weight, beta.max_queued), (1, 1000));
    assert_eq!(config.tasks.max_queued_for, Duration::from_secs(3600));
    assert_eq!(
        config.outputs,
        Some(OutputSettings::with_defaults(StorageSettings {
            kind: StorageKind::Local {
                path: "data/outputs".into()
            },
        }))
    );
    assert!(acme.store_outputs);
    assert!(beta.store_outputs);
}

#[test]
fn demo_config_is_as_documented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/demo.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = from_yaml(&text, &|name| match name {
        "TASKGATE_SIM_URL" => Some("http://127.0.0.1:4100".to_string()),
        "TASKGATE_DEMO_KEY_HASH" => Some(format_key_hash(&hash_key("tg_demo"))),
        _ => None,
    })
    .unwrap();
    assert_eq!(
        config.store,
        StoreConfig::Sqlite {
            path: "data/demo.db".into()
        }
    );
    assert_eq!(config.tasks.refresh_after, Duration::from_secs(1));
    assert_eq!(config.tasks.watch_every, Duration::from_secs(2));
    let names: Vec<&str> = config.providers.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["comet-compat", "comet-official", "makevid", "runway"]
    );
    for p in config.providers.values() {
        assert_eq!(p.settings.base_url.as_str(), "http://127.0.0.1:4100/");
        assert_eq!(p.settings.api_key.expose(), "sim-key");
    }
    let demo = &config.tenants["demo"];
    assert_eq!(demo.key_hashes, vec![hash_key("tg_demo")]);
    assert_eq!(
        demo.rate_limit,
        Some(RateLimit {
            count: 50,
            period: Duration::from_secs(1),
            burst: 100
        })
    );
    assert_eq!(demo.max_unfinished_tasks, Some(1000));
    let route = |t: TaskType| demo.routes[&t].join(",");
    assert_eq!(route(TaskType::TextToVideo), "makevid,comet-compat");
    assert_eq!(
        route(TaskType::ImageToVideo),
        "comet-official,makevid,runway"
    );
    assert_eq!(route(TaskType::VideoToVideo), "comet-official,comet-compat");
    assert_eq!(
        route(TaskType::CharacterPerformance),
        "runway,comet-official"
    );
    assert_eq!(route(TaskType::TextToImage), "comet-official,runway");
    assert_eq!(route(TaskType::Upscale), "runway,comet-official");
}

#[test]
fn key_case_is_preserved() {
    let yaml = base()
        .replace("makevid", "comet-official")
        .replace("type: comet-official", "type: cometapi_official")
        .replace("acme:", "Acme:");
    let config = parse(&yaml).unwrap();
    assert!(config.providers.contains_key("comet-official"));
    assert_eq!(config.tenants["Acme"].name, "Acme");
    assert!(config.tenants["Acme"].may_use("comet-official"));
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let config = parse(&base()).unwrap();
    assert_eq!(config.server, taskgate_config::ServerConfig::default());
    assert_eq!(config.tasks, taskgate_config::TaskTimings::default());
    assert_eq!(
        config.store,
        StoreConfig::Sqlite {
            path: "data/taskgate.db".into()
        }
    );
    assert!(config.cluster.is_none());
    let makevid = &config.providers["makevid"];
    assert_eq!(makevid.retries, 2);
    assert_eq!(makevid.settings.timeout, Duration::from_secs(30));
    assert_eq!(makevid.rate_limit, None);
    assert_eq!(makevid.settings.adapter.runway_version, None);
    let acme = &config.tenants["acme"];
    assert!(acme.callback_host_allowed("anywhere.example"));
    assert!(acme.upstream_keys.is_empty());
}

#[test]
fn without_outputs_nothing_is_stored_and_tenants_keep_the_default() {
    let config = parse(&base()).unwrap();
    assert_eq!(config.outputs, None);
    assert!(config.tenants["acme"].store_outputs);
}

#[test]
fn local_outputs_get_the_documented_defaults() {
    let config = parse(&with_outputs(
        "  storage:\n    kind: local\n    path: data/outputs\n",
    ))
    .unwrap();
    let local = StorageSettings {
        kind: StorageKind::Local {
            path: "data/outputs".into(),
        },
    };
    assert_eq!(
        config.outputs,
        Some(OutputSettings {
            storage: local,
            url_ttl: Duration::from_secs(24 * 3600),
            keep_for: Duration::from_secs(30 * 24 * 3600),
            max_bytes: 2_147_483_648,
            signing_key: None,
        })
    );
    assert!(config.tenants["acme"].store_outputs, "default true");
}

#[test]
fn local_outputs_read_every_key_and_store_outputs_per_tenant() {
    let tenants = format!(
        "{}  beta:\n    keys: [{HASH_B}]\n    store_outputs: true\n  gamma:\n    keys: [sha256:{}]\n",
        with("    routes:\n", "    store_outputs: false\n    routes:\n"),
        "4".repeat(64)
    );
    let yaml = format!(
        "{tenants}outputs:\n  storage: {{kind: local, path: /var/lib/taskgate/outputs}}\n  url_ttl: 90m\n  keep_for: 7d\n  max_bytes: \"${{MAX_OUTPUT_BYTES}}\"\n  signing_key: ${{TASKGATE_FILES_KEY}}\n"
    );
    let config = from_yaml(&yaml, &|name| match name {
        "MAX_OUTPUT_BYTES" => Some("1048576".to_string()),
        other => fake_env(other),
    })
    .unwrap();
    assert_eq!(
        config.outputs,
        Some(OutputSettings {
            storage: StorageSettings {
                kind: StorageKind::Local {
                    path: "/var/lib/taskgate/outputs".into()
                },
            },
            url_ttl: Duration::from_secs(90 * 60),
            keep_for: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 1_048_576,
            signing_key: Some(Secret::new("secret-value-of-TASKGATE_FILES_KEY")),
        })
    );
    assert!(!config.tenants["acme"].store_outputs);
    assert!(config.tenants["beta"].store_outputs);
    assert!(config.tenants["gamma"].store_outputs, "default true");
}

#[test]
fn s3_outputs_map_every_key() {
    let config = parse(&with_s3(
        "    prefix: prod/outputs/\n    region: eu-west-1\n    endpoint: http://127.0.0.1:9000\n    access_key_id: ${S3_ACCESS_KEY_ID}\n    secret_access_key: ${S3_SECRET_ACCESS_KEY}\n",
        "  url_ttl: 7d\n  keep_for: 90d\n  max_bytes: 10485760\n",
    ))
    .unwrap();
    let s3 = S3Settings {
        bucket: "taskgate-outputs".to_string(),
        prefix: "prod/outputs/".to_string(),
        region: "eu-west-1".to_string(),
        endpoint: Some("http://127.0.0.1:9000".to_string()),
        access_key_id: Some(Secret::new("secret-value-of-S3_ACCESS_KEY_ID")),
        secret_access_key: Some(Secret::new("secret-value-of-S3_SECRET_ACCESS_KEY")),
    };
    assert_eq!(
        config.outputs,
        Some(OutputSettings {
            storage: StorageSettings {
                kind: StorageKind::S3(s3)
            },
            url_ttl: Duration::from_secs(7 * 24 * 3600),
            keep_for: Duration::from_secs(90 * 24 * 3600),
            max_bytes: 10_485_760,
            signing_key: None,
        })
    );
}

#[test]
fn s3_outputs_default_to_us_east_1_no_prefix_and_ambient_credentials() {
    let config = parse(&with_s3("", "")).unwrap();
    assert_eq!(
        config.outputs,
        Some(OutputSettings::with_defaults(StorageSettings {
            kind: StorageKind::S3(S3Settings::new("taskgate-outputs", "us-east-1")),
        }))
    );
}

#[test]
fn output_secrets_are_not_in_debug_output() {
    let local = parse(&with_outputs(
        "  storage: {kind: local, path: data/outputs}\n  signing_key: ${TASKGATE_FILES_KEY}\n",
    ))
    .unwrap();
    let s3 = parse(&with_s3(
        "    access_key_id: ${S3_ACCESS_KEY_ID}\n    secret_access_key: ${S3_SECRET_ACCESS_KEY}\n",
        "",
    ))
    .unwrap();
    let debug = format!("{local:?} {local:#?} {s3:?} {s3:#?}");
    for secret in [
        "secret-value-of-TASKGATE_FILES_KEY",
        "secret-value-of-S3_ACCESS_KEY_ID",
        "secret-value-of-S3_SECRET_ACCESS_KEY",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("[redacted]"));
    assert!(
        debug.contains("taskgate-outputs"),
        "the bucket is not secret"
    );
}

#[test]
fn output_problems_hold_no_secret() {
    let errors = parse(&with_s3(
        "    endpoint: http://minio:pw-in-endpoint@127.0.0.1:9000\n    access_key_id: \" AKID-secret \"\n    secret_access_key: sk-s3-secret\n",
        "",
    ))
    .unwrap_err()
    .to_string();
    let short = parse(&with_outputs(
        "  storage: {kind: local, path: x}\n  signing_key: short-signing-secret\n",
    ))
    .unwrap_err()
    .to_string();
    for secret in [
        "pw-in-endpoint",
        "AKID-secret",
        "sk-s3-secret",
        "short-signing-secret",
    ] {
        assert!(!errors.contains(secret), "{secret} in {errors}");
        assert!(!short.contains(secret), "{secret} in {short}");
    }
}

#[test]
fn queue_settings_default() {
    let config = parse(&base()).unwrap();
    assert_eq!(config.tasks.max_queued_for, Duration::from_secs(3600));
    for provider in config.providers.values() {
        assert_eq!(provider.max_concurrent, None, "no cap unless set");
    }
    let acme = &config.tenants["acme"];
    assert_eq!(acme.queue_weight, 1);
    assert_eq!(acme.max_queued, 1000);
    assert_eq!(taskgate_config::DEFAULT_QUEUE_WEIGHT, 1);
    assert_eq!(taskgate_config::DEFAULT_MAX_QUEUED, 1000);
}

#[test]
fn queue_settings_are_read() {
    let yaml = format!(
        "{}  beta:\n    keys: [{HASH_B}]\n    queue_weight: 1000\n    max_queued: 0\ntasks:\n  max_queued_for: 90s\n",
        with("    type: makevid\n", "    type: makevid\n    max_concurrent: 1\n")
            .replace("    type: runway\n", "    type: runway\n    max_concurrent: 100000\n")
            .replace("    routes:\n", "    queue_weight: 1\n    max_queued: 9223372036854775807\n    routes:\n")
    );
    let config = parse(&yaml).unwrap();
    assert_eq!(config.providers["makevid"].max_concurrent, Some(1));
    assert_eq!(
        config.providers["runway"].max_concurrent,
        Some(taskgate_config::MAX_CONCURRENT)
    );
    assert_eq!(config.tenants["acme"].queue_weight, 1);
    assert_eq!(config.tenants["acme"].max_queued, 9_223_372_036_854_775_807);
    assert_eq!(config.tenants["beta"].queue_weight, 1000);
    assert_eq!(config.tenants["beta"].max_queued, 0);
    assert_eq!(config.tasks.max_queued_for, Duration::from_secs(90));
    // The other timings keep their defaults.
    assert_eq!(config.tasks.give_up_after, Duration::from_secs(7200));
    let ms = parse(&format!("{}tasks: {{max_queued_for: 250ms}}\n", base())).unwrap();
    assert_eq!(ms.tasks.max_queued_for, Duration::from_millis(250));
}

#[test]
fn queue_settings_from_the_environment() {
    let yaml = format!(
        "{}tasks: {{max_queued_for: \"${{QUEUE_FOR}}\"}}\n",
        with(
            "    type: runway\n",
            "    type: runway\n    max_concurrent: \"${RUNWAY_CONCURRENCY}\"\n"
        )
        .replace(
            "    routes:\n",
            "    queue_weight: \"${ACME_WEIGHT}\"\n    routes:\n"
        )
    );
    let config = from_yaml(&yaml, &|name| match name {
        "RUNWAY_CONCURRENCY" => Some("5".to_string()),
        "ACME_WEIGHT" => Some("3".to_string()),
        "QUEUE_FOR" => Some("10m".to_string()),
        other => fake_env(other),
    })
    .unwrap();
    assert_eq!(config.providers["runway"].max_concurrent, Some(5));
    assert_eq!(config.tenants["acme"].queue_weight, 3);
    assert_eq!(config.tasks.max_queued_for, Duration::from_secs(600));
}

#[test]
fn edge_limits_default_and_are_read() {
    let d = parse(&base()).unwrap().server;
    assert_eq!(d.body_read_timeout, Duration::from_secs(10));
    assert_eq!(d.max_header_count, 100);
    assert_eq!(d.max_header_bytes, 32 * 1024);
    let set = parse(&format!(
        "{}server:\n  request_timeout: 5s\n  body_read_timeout: 5s\n  max_header_count: 40\n  max_header_bytes: 8192\n",
        base()
    ))
    .unwrap()
    .server;
    assert_eq!(
        set.body_read_timeout,
        Duration::from_secs(5),
        "equal to the whole bound is allowed"
    );
    assert_eq!(set.max_header_count, 40);
    assert_eq!(set.max_header_bytes, 8192);
    let short = parse(&format!("{}server:\n  request_timeout: 3s\n", base()))
        .unwrap()
        .server;
    assert_eq!(
        short.body_read_timeout,
        Duration::from_secs(3),
        "a file without it stays valid"
    );
}

#[test]
fn env_values_are_values_not_yaml() {
    let config = parse(&format!(
        "{}store: {{path: \"${{INJECT}}\"}}\nserver: {{max_body_bytes: \"${{MAX_BODY}}\"}}\n",
        base()
    ))
    .unwrap();
    assert_eq!(
        config.store,
        StoreConfig::Sqlite {
            path: "x\nextra: 1".into()
        }
    );
    assert_eq!(config.server.max_body_bytes, 2048);
}

#[test]
fn version_hashes_the_text_before_substitution() {
    let a = from_yaml(&base(), &fake_env).unwrap();
    let b = from_yaml(&base(), &|name| {
        fake_env(name).map(|v| format!("{v}-other"))
    })
    .unwrap();
    assert_eq!(a.version.len(), 12);
    assert!(a.version.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(a.version, b.version);
    let c = from_yaml(&format!("{}\n", base()), &fake_env).unwrap();
    assert_ne!(a.version, c.version);
}

#[test]
fn cluster_with_postgres_is_accepted() {
    let config = parse(&format!(
        "{}store: {{kind: postgres, url: \"${{DATABASE_URL}}\"}}\ncluster: {{redis_url: \"${{REDIS_URL}}\", replica_id: r1}}\n",
        base()
    ))
    .unwrap();
    let cluster = config.cluster.unwrap();
    assert_eq!(cluster.replica_id.as_deref(), Some("r1"));
    assert!(cluster.redis_url.expose().contains("pw-redis-secret"));
    assert_eq!(cluster.namespace, "taskgate");
}

#[test]
fn webhooks_deny_private_networks_is_off_by_default_and_read_when_set() {
    let config = parse(&base()).unwrap();
    assert_eq!(config.webhooks, taskgate_config::WebhookSettings::default());
    assert!(!config.webhooks.deny_private_networks);
    let config = parse(&format!(
        "{}webhooks: {{deny_private_networks: true}}\n",
        base()
    ))
    .unwrap();
    assert!(config.webhooks.deny_private_networks);
    let got = problems(&format!(
        "{}webhooks: {{deny_private_networks: sometimes}}\n",
        base()
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "webhooks.deny_private_networks", "{got:?}");
    assert!(got[0].1.contains("expected a boolean"), "{got:?}");
}

#[test]
fn cluster_namespace_is_read() {
    let config = parse(&format!(
        "{}store: {{kind: postgres, url: \"${{DATABASE_URL}}\"}}\ncluster: {{redis_url: \"${{REDIS_URL}}\", namespace: \"team-a:prod.v2\"}}\n",
        base()
    ))
    .unwrap();
    assert_eq!(config.cluster.unwrap().namespace, "team-a:prod.v2");
}

#[test]
fn debug_output_holds_no_secret() {
    let yaml = format!(
        "{}store: {{kind: postgres, url: \"${{DATABASE_URL}}\"}}\ncluster: {{redis_url: \"${{REDIS_URL}}\"}}\n",
        with(
            "    routes:\n",
            "    webhook_secret: ${ACME_WEBHOOK_SECRET}\n    upstream_keys: {runway: \"${ACME_RUNWAY_KEY}\"}\n    routes:\n"
        )
    );
    let config = parse(&yaml).unwrap();
    let debug = format!("{config:?} {config:#?}");
    for secret in [
        "secret-value-of-MAKEVID_KEY",
        "secret-value-of-RUNWAY_KEY",
        "secret-value-of-ACME_RUNWAY_KEY",
        "ZXhhbXBsZS13ZWJob29r",
        "pw-db-secret",
        "pw-redis-secret",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("[redacted]"));
}

#[test]
fn problems_hold_no_secret() {
    let yaml = with("${MAKEVID_KEY}", "\" sk-live-secret \"").replace(
        "    routes:\n",
        "    webhook_secret: sk-webhook-secret\n    routes:\n",
    );
    let errors = parse(&yaml).unwrap_err().to_string();
    assert!(!errors.contains("sk-live-secret"), "{errors}");
    assert!(!errors.contains("sk-webhook-secret"), "{errors}");
}

#[test]
fn errors_display_one_problem_per_line() {
    let errors = parse("tenants: {}\nstore: {kind: x}\n").unwrap_err();
    assert_eq!(
        errors.to_string(),
        "providers: at least one provider is required\n\
         store.kind: unknown store kind 'x': expected one of memory, sqlite, postgres"
    );
}

#[test]
fn a_missing_file_is_one_problem() {
    let errors = load(Path::new("/nonexistent/taskgate.yaml")).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].path, "<file>");
    assert!(errors.0[0].message.contains("/nonexistent/taskgate.yaml"));
}

#[test]
fn load_reads_a_file_from_disk() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/providers/makevid.yaml");
    // MAKEVID_KEY comes from the process environment; without it, exactly that is reported.
    match load(&path) {
        Ok(config) => assert!(config.providers.contains_key("makevid")),
        Err(e) => assert_eq!(
            e.to_string(),
            "providers.makevid.api_key: environment variable MAKEVID_KEY is not set"
        ),
    }
}
