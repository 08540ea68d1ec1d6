//! What can be checked of `deploy/` without Docker or a cluster: the manifests parse, the
//! config in the ConfigMap passes `taskgate check` with exactly the Secret's variables, the
//! pieces refer to each other correctly, the Dockerfile's build-time check would pass, and
//! the Dockerfile, the systemd unit, the manifest and the README agree on the binary and
//! config paths. The several-replica files (compose, Kubernetes) are checked the same way
//! in `deploy/compose.rs` and `deploy/replicas.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "deploy/compose.rs"]
mod compose;
#[path = "deploy/replicas.rs"]
mod replicas;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

const BINARY: &str = "/usr/local/bin/taskgate";
const CONFIG: &str = "/etc/taskgate/taskgate.yaml";

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The port of a `host:port` listener address.
fn port_of(addr: &str) -> u64 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// Whole seconds of a duration written `20s`.
fn seconds(text: &str) -> u64 {
    text.strip_suffix('s').unwrap().parse().unwrap()
}

/// The `NAME: value` pairs of a YAML map (a Secret's `stringData`, a service's environment).
fn string_map(map: &Value) -> BTreeMap<String, String> {
    map.as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every YAML document of the sidecar example, by kind.
fn manifests() -> BTreeMap<String, Value> {
    let text = read("deploy/kubernetes/sidecar.yaml");
    let mut by_kind = BTreeMap::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).unwrap();
        let kind = value["kind"].as_str().unwrap().to_string();
        assert!(value["apiVersion"].is_string(), "{kind}: no apiVersion");
        assert!(value["metadata"]["name"].is_string(), "{kind}: no name");
        assert!(by_kind.insert(kind.clone(), value).is_none(), "two {kind}s");
    }
    by_kind
}

/// Runs `taskgate check` on `config_text` with only `env` (and PATH) set.
fn check(config_text: &str, env: &BTreeMap<String, String>) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!(
        "taskgate-deploy-{}-{}",
        std::process::id(),
        ulid::Ulid::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("taskgate.yaml");
    std::fs::write(&file, config_text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_taskgate"))
        .arg("check")
        .arg("--config")
        .arg(&file)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn secret_env(secret: &Value) -> BTreeMap<String, String> {
    string_map(&secret["stringData"])
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

#[test]
fn the_configmaps_config_passes_check_with_the_secrets_variables() {
    let docs = manifests();
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        ["ConfigMap", "Deployment", "Secret"]
    );
    let config = docs["ConfigMap"]["data"]["taskgate.yaml"].as_str().unwrap();
    let env = secret_env(&docs["Secret"]);
    let out = check(config, &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And it needs them: without the Secret it is refused, naming a variable.
    let out = check(config, &BTreeMap::new());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("COMETAPI_KEY"));
    // The app's key in the Secret is the tenant key the config accepts.
    let parsed: Value = serde_yaml::from_str(config).unwrap();
    let hash = taskgate_config::format_key_hash(&taskgate_config::hash_key(&env["TASKGATE_KEY"]));
    assert_eq!(
        parsed["tenants"]["app"]["keys"][0].as_str(),
        Some(hash.as_str())
    );
}

#[test]
fn the_deployment_wires_config_secret_probes_and_resources() {
    let docs = manifests();
    let deployment = &docs["Deployment"];
    let config: Value =
        serde_yaml::from_str(docs["ConfigMap"]["data"]["taskgate.yaml"].as_str().unwrap()).unwrap();
    let admin_port: u64 = config["server"]["admin_listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let tenant_port = config["server"]["listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();

    let taskgate = container(deployment, "taskgate");
    let args: Vec<&str> = taskgate["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["serve", "--config", CONFIG]);
    assert_eq!(
        taskgate["envFrom"][0]["secretRef"]["name"],
        docs["Secret"]["metadata"]["name"]
    );
    let mount = taskgate["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| CONFIG.starts_with(m["mountPath"].as_str().unwrap()))
        .expect("the config directory is mounted");
    assert!(
        mount.get("subPath").is_none(),
        "subPath mounts never update"
    );
    let volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(
        volume["configMap"]["name"],
        docs["ConfigMap"]["metadata"]["name"]
    );
    assert!(CONFIG.ends_with(
        docs["ConfigMap"]["data"]
            .as_mapping()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
    ));

    let port = taskgate["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["containerPort"].as_u64() == Some(admin_port))
        .expect("the admin port is declared");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &taskgate[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert!(
            get["port"] == port["name"] || get["port"].as_u64() == Some(admin_port),
            "{probe} is on the admin port"
        );
    }
    for c in ["app", "taskgate"] {
        let requests = &container(deployment, c)["resources"]["requests"];
        assert!(
            requests["cpu"].is_string() && requests["memory"].is_string(),
            "{c}"
        );
    }
    let app = container(deployment, "app");
    let url = app["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TASKGATE_URL")
        .unwrap()["value"]
        .as_str()
        .unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{tenant_port}"));
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    let drain: u64 = config["server"]["shutdown_grace"]
        .as_str()
        .unwrap()
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!(grace > drain, "the pod outlives the drain");
}

/// The `NAME=value` words of the Dockerfile's `RUN ... taskgate check` instruction.
fn dockerfile_check_env(dockerfile: &str) -> (BTreeMap<String, String>, String) {
    let joined = dockerfile.replace("\\\n", " ");
    let line = joined
        .lines()
        .find(|l| l.starts_with("RUN ") && l.contains("taskgate check"))
        .expect("a RUN taskgate check line");
    let env = line
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = line
        .split_whitespace()
        .skip_while(|w| *w != "--config")
        .nth(1)
        .unwrap()
        .to_string();
    (env, config)
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_its_build_time_check_passes() {
    let dockerfile = read("deploy/Dockerfile");
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert!(froms[0].contains("rust"), "{froms:?}");
    assert!(
        froms.last().unwrap().contains("debian") && froms.last().unwrap().contains("slim"),
        "{froms:?}"
    );
    let user = dockerfile
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER");
    assert!(!user.contains("root") && !user.ends_with(" 0"), "{user}");
    assert!(dockerfile.contains(&format!(
        "COPY --from=build /src/target/release/taskgate {BINARY}"
    )));
    assert!(dockerfile.contains(&format!(r#"ENTRYPOINT ["{BINARY}"]"#)));
    assert!(dockerfile.contains(&format!(r#"CMD ["serve", "--config", "{CONFIG}"]"#)));
    assert!(dockerfile.contains("COPY config/example.yaml /etc/taskgate/example.yaml"));

    let (env, config) = dockerfile_check_env(&dockerfile);
    assert_eq!(config, "/etc/taskgate/example.yaml");
    let out = check(&read("config/example.yaml"), &env);
    assert!(
        out.status.success(),
        "the image's build-time check would fail: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_unit_the_image_the_manifest_and_the_readme_agree_on_paths() {
    let unit = read("deploy/systemd/taskgate.service");
    let exec_start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    assert_eq!(exec_start, format!("{BINARY} serve --config {CONFIG}"));
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    assert!(unit.contains("KillSignal=SIGTERM"));
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(stop > 20, "longer than the default shutdown_grace");
    for section in ["[Unit]", "[Service]", "[Install]"] {
        assert!(unit.contains(section), "{section}");
    }

    let readme = read("README.md");
    for path in [
        BINARY,
        CONFIG,
        "deploy/Dockerfile",
        "deploy/kubernetes/sidecar.yaml",
        "deploy/systemd/taskgate.service",
    ] {
        assert!(readme.contains(path), "the README does not name {path}");
    }
    assert!(read("deploy/kubernetes/sidecar.yaml").contains(CONFIG));
}
