//! `deploy/kubernetes/replicas/`: taskgate as a service of its own with N replicas, and a
//! PostgreSQL and a Redis for trying it out. The ConfigMap's config passes `taskgate check`
//! with exactly its Secret's variables, and names, selectors, ports, probes and URLs agree.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

use super::{check, port_of, read, seconds, secret_env, CONFIG};

const TASKGATE: &str = "deploy/kubernetes/replicas/taskgate.yaml";
const BACKING: &str = "deploy/kubernetes/replicas/postgres-redis.yaml";

/// Every document of both files, by kind and name.
fn manifests() -> BTreeMap<(String, String), Value> {
    let mut all = BTreeMap::new();
    for file in [TASKGATE, BACKING] {
        for document in serde_yaml::Deserializer::from_str(&read(file)) {
            let value = Value::deserialize(document).unwrap();
            let kind = value["kind"].as_str().unwrap().to_string();
            assert!(
                value["apiVersion"].is_string(),
                "{file}: {kind}: no apiVersion"
            );
            let name = value["metadata"]["name"].as_str().unwrap().to_string();
            assert!(
                all.insert((kind.clone(), name.clone()), value).is_none(),
                "two {kind}s {name}"
            );
        }
    }
    all
}

fn get<'a>(docs: &'a BTreeMap<(String, String), Value>, kind: &str, name: &str) -> &'a Value {
    docs.get(&(kind.to_string(), name.to_string()))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn config(docs: &BTreeMap<(String, String), Value>) -> (String, Value) {
    let text = get(docs, "ConfigMap", "taskgate")["data"]["taskgate.yaml"]
        .as_str()
        .unwrap()
        .to_string();
    let parsed = serde_yaml::from_str(&text).unwrap();
    (text, parsed)
}

fn first_container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

/// The named or numbered container port a Service or probe refers to.
fn container_port(container: &Value, reference: &Value) -> u64 {
    if let Some(number) = reference.as_u64() {
        return number;
    }
    container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == *reference)
        .unwrap_or_else(|| panic!("no port {reference:?}"))["containerPort"]
        .as_u64()
        .unwrap()
}

/// The Service selects the workload's pods, and its port reaches the first container.
fn service_reaches(service: &Value, workload: &Value) -> u64 {
    let labels = &workload["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(&labels[key.as_str().unwrap()], value, "selector {key:?}");
    }
    let port = &service["spec"]["ports"][0];
    container_port(first_container(workload), &port["targetPort"]);
    port["port"].as_u64().unwrap()
}

fn url(text: &str) -> url::Url {
    url::Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn the_replicas_config_passes_check_with_exactly_the_secrets_variables() {
    let docs = manifests();
    let (text, parsed) = config(&docs);
    let env = secret_env(get(&docs, "Secret", "taskgate"));
    let out = check(&text, &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(parsed["store"]["kind"], "postgres");
    assert_eq!(parsed["store"]["url"], "${DATABASE_URL}");
    assert_eq!(parsed["cluster"]["redis_url"], "${REDIS_URL}");
    // Every variable of the Secret is used, and none is missing.
    for name in env.keys() {
        assert!(text.contains(&format!("${{{name}}}")), "{name} is unused");
    }
    let out = check(&text, &BTreeMap::new());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
    // The client's key, kept out of taskgate's own Secret, is the one the config accepts.
    let client = secret_env(get(&docs, "Secret", "taskgate-client"));
    let hash =
        taskgate_config::format_key_hash(&taskgate_config::hash_key(&client["TASKGATE_KEY"]));
    assert_eq!(
        parsed["tenants"]["app"]["keys"][0].as_str(),
        Some(hash.as_str())
    );
    assert!(!env.contains_key("TASKGATE_KEY"));
}

#[test]
fn the_replicas_deployment_wires_config_probes_service_and_disruption_budget() {
    let docs = manifests();
    let (_, config) = config(&docs);
    let tenant_port = port_of(config["server"]["listen"].as_str().unwrap());
    let admin_port = port_of(config["server"]["admin_listen"].as_str().unwrap());
    assert!(
        config["server"]["listen"]
            .as_str()
            .unwrap()
            .starts_with("0.0.0.0:"),
        "the Service must reach the tenant listener"
    );
    let deployment = get(&docs, "Deployment", "taskgate");
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap();
    assert!(replicas >= 3, "several replicas");
    assert_ne!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pod = &deployment["spec"]["template"]["spec"];
    let taskgate = first_container(deployment);
    assert_eq!(taskgate["name"], "taskgate");

    let args: Vec<&str> = taskgate["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["serve", "--config", CONFIG]);
    assert_eq!(taskgate["envFrom"][0]["secretRef"]["name"], "taskgate");
    let mount = &taskgate["volumeMounts"][0];
    assert!(CONFIG.starts_with(mount["mountPath"].as_str().unwrap()));
    assert!(
        mount.get("subPath").is_none(),
        "subPath mounts never update"
    );
    let volume = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["configMap"]["name"], "taskgate");

    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let http_get = &taskgate[probe]["httpGet"];
        assert_eq!(http_get["path"], path, "{probe}");
        assert_eq!(
            container_port(taskgate, &http_get["port"]),
            admin_port,
            "{probe}"
        );
    }
    let requests = &taskgate["resources"]["requests"];
    assert!(requests["cpu"].is_string() && requests["memory"].is_string());
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let drain = seconds(config["server"]["shutdown_grace"].as_str().unwrap());
    assert!(grace > drain, "the pod outlives the drain");

    // The Service sends clients to the tenant listener of these pods.
    let service = get(&docs, "Service", "taskgate");
    service_reaches(service, deployment);
    let target = &service["spec"]["ports"][0]["targetPort"];
    assert_eq!(container_port(taskgate, target), tenant_port);

    // The budget covers these pods and lets a drain proceed.
    let budget = get(&docs, "PodDisruptionBudget", "taskgate");
    assert_eq!(budget["apiVersion"], "policy/v1");
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let unavailable = budget["spec"]["maxUnavailable"].as_u64().unwrap();
    assert!((1..replicas).contains(&unavailable));

    // Every workload's selector matches its own pods.
    for ((kind, name), doc) in &docs {
        if kind == "Deployment" || kind == "StatefulSet" {
            let labels = &doc["spec"]["template"]["metadata"]["labels"];
            for (key, value) in doc["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
                assert_eq!(&labels[key.as_str().unwrap()], value, "{kind} {name}");
            }
        }
    }
}

#[test]
fn the_secrets_urls_reach_the_trial_postgres_and_redis() {
    let docs = manifests();
    let env = secret_env(get(&docs, "Secret", "taskgate"));

    let database = url(&env["DATABASE_URL"]);
    let postgres = get(&docs, "StatefulSet", "taskgate-postgres");
    let service_name = postgres["spec"]["serviceName"].as_str().unwrap();
    assert_eq!(database.host_str(), Some(service_name));
    let service = get(&docs, "Service", service_name);
    assert_eq!(
        database.port().map(u64::from),
        Some(service_reaches(service, postgres))
    );
    let container = first_container(postgres);
    let plain: BTreeMap<&str, &str> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert_eq!(database.username(), plain["POSTGRES_USER"]);
    assert_eq!(database.path(), format!("/{}", plain["POSTGRES_DB"]));
    let secret_name = container["envFrom"][0]["secretRef"]["name"]
        .as_str()
        .unwrap();
    let password = secret_env(get(&docs, "Secret", secret_name));
    assert_eq!(
        database.password(),
        Some(password["POSTGRES_PASSWORD"].as_str())
    );

    let redis = url(&env["REDIS_URL"]);
    let host = redis.host_str().unwrap();
    let service = get(&docs, "Service", host);
    assert_eq!(
        redis.port().map(u64::from).unwrap_or(6379),
        service_reaches(service, get(&docs, "Deployment", host))
    );

    // The backing services say what they are for.
    let text = read(BACKING);
    assert!(text.contains("for trying it out"));
    assert!(text.contains("use your managed services in production"));
}

#[test]
fn the_readme_names_the_replica_files_and_the_demo() {
    let readme = read("README.md");
    assert!(readme.contains("## Running several replicas"));
    for path in [
        "deploy/compose/docker-compose.yaml",
        "deploy/compose/taskgate.yaml",
        "deploy/kubernetes/replicas/taskgate.yaml",
        "deploy/kubernetes/replicas/postgres-redis.yaml",
        "demo --replicas 3",
    ] {
        assert!(readme.contains(path), "the README does not name {path}");
    }
}
