//! `deploy/compose/`: three replicas, PostgreSQL, Redis and the optional simulator. The
//! config the replicas mount passes `taskgate check` with the environment compose gives
//! them when nothing is set, and the services agree on ports, URLs, healthchecks and order.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::{check, port_of, read, repo_file, seconds, string_map, CONFIG};

const DIR: &str = "deploy/compose";
/// The tenant key the compose file's header documents.
const TRY_IT_OUT_KEY: &str = "tg_compose-try-it-out-key";

fn compose() -> Value {
    let mut value: Value = serde_yaml::from_str(&read(&format!("{DIR}/docker-compose.yaml")))
        .expect("docker-compose.yaml parses");
    value.apply_merge().unwrap(); // the replicas share `<<: *taskgate`
    value
}

fn services(compose: &Value) -> BTreeMap<String, Value> {
    compose["services"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone()))
        .collect()
}

fn replicas(services: &BTreeMap<String, Value>) -> Vec<(&String, &Value)> {
    services
        .iter()
        .filter(|(name, _)| name.starts_with("taskgate-"))
        .collect()
}

/// Compose's interpolation with an empty shell environment: `${NAME:-default}` is the
/// default; a bare `${NAME}` would be empty, so it must not be used.
fn interpolate(value: &str) -> String {
    match value.strip_prefix("${") {
        None => value.to_string(),
        Some(rest) => {
            let inner = rest.strip_suffix('}').unwrap();
            let (_, default) = inner
                .split_once(":-")
                .unwrap_or_else(|| panic!("{value}: no default, so `up` needs it set"));
            default.to_string()
        }
    }
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    string_map(&service["environment"])
        .into_iter()
        .map(|(k, v)| (k, interpolate(&v)))
        .collect()
}

/// The config file a replica mounts at `CONFIG`, as text.
fn mounted_config(service: &Value) -> String {
    let volumes: Vec<&str> = service["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mount = volumes
        .iter()
        .find(|v| v.split(':').nth(1) == Some(CONFIG))
        .unwrap_or_else(|| panic!("nothing mounted at {CONFIG}: {volumes:?}"));
    assert!(mount.ends_with(":ro"), "{mount}");
    let host = mount.split(':').next().unwrap();
    read(&format!("{DIR}/{}", host.strip_prefix("./").unwrap()))
}

fn url(text: &str) -> url::Url {
    url::Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn the_compose_config_passes_check_with_the_environment_compose_gives() {
    let compose = compose();
    let services = services(&compose);
    let replicas = replicas(&services);
    assert_eq!(replicas.len(), 3, "three replicas");
    for (name, service) in &replicas {
        let config = mounted_config(service);
        let env = environment(service);
        let out = check(&config, &env);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed: Value = serde_yaml::from_str(&config).unwrap();
        assert_eq!(parsed["store"]["kind"], "postgres");
        assert!(parsed["cluster"]["redis_url"].is_string());
        // The documented try-it-out key is the one the config accepts by default.
        let hash = taskgate_config::format_key_hash(&taskgate_config::hash_key(TRY_IT_OUT_KEY));
        assert_eq!(env["APP_KEY_HASH"], hash);
    }
    assert!(read(&format!("{DIR}/docker-compose.yaml")).contains(TRY_IT_OUT_KEY));
    // Every replica gets the same environment and file; only host names and ports differ.
    let first = replicas[0].1;
    for (name, service) in &replicas {
        assert_eq!(service["environment"], first["environment"], "{name}");
        assert_eq!(service["volumes"], first["volumes"], "{name}");
    }
    // The file needs the environment: without it, it is refused, naming a variable.
    let out = check(&mounted_config(first), &BTreeMap::new());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
}

#[test]
fn the_compose_replicas_agree_on_images_ports_healthchecks_and_order() {
    let compose = compose();
    let services = services(&compose);
    let mut host_ports = Vec::new();
    let mut host_names = Vec::new();
    for (name, service) in replicas(&services) {
        let config: Value = serde_yaml::from_str(&mounted_config(service)).unwrap();
        let tenant_port = port_of(config["server"]["listen"].as_str().unwrap());
        let admin_port = port_of(config["server"]["admin_listen"].as_str().unwrap());

        // Built from the repository root with the image's Dockerfile.
        let build = &service["build"];
        let context = format!("{DIR}/{}", build["context"].as_str().unwrap());
        assert!(repo_file(&context).join("Cargo.toml").is_file(), "{name}");
        assert_eq!(build["dockerfile"], "deploy/Dockerfile", "{name}");

        // Published on loopback only; the container side is the config's two listeners.
        let mut container_ports = Vec::new();
        for mapping in service["ports"].as_sequence().unwrap() {
            let parts: Vec<&str> = mapping.as_str().unwrap().split(':').collect();
            assert_eq!(parts.len(), 3, "{name}: {mapping:?}");
            assert_eq!(parts[0], "127.0.0.1", "{name}");
            host_ports.push(parts[1].to_string());
            container_ports.push(parts[2].parse::<u64>().unwrap());
        }
        container_ports.sort_unstable();
        let mut listeners = [tenant_port, admin_port];
        listeners.sort_unstable();
        assert_eq!(container_ports, listeners, "{name}");
        host_names.push(service["hostname"].as_str().unwrap().to_string());

        // Healthy means ready: /readyz on the admin listener.
        let test: Vec<&str> = service["healthcheck"]["test"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        let script = test.join(" ");
        assert!(script.contains("GET /readyz "), "{name}: {script}");
        assert!(
            script.contains(&format!("/dev/tcp/127.0.0.1/{admin_port} ")),
            "{name}: {script}"
        );

        // Started once PostgreSQL and Redis are healthy, and each has a healthcheck.
        for dependency in ["postgres", "redis"] {
            assert_eq!(
                service["depends_on"][dependency]["condition"], "service_healthy",
                "{name}"
            );
            assert!(services[dependency]["healthcheck"]["test"].is_sequence());
        }
        let drain = seconds(config["server"]["shutdown_grace"].as_str().unwrap());
        let stop = seconds(service["stop_grace_period"].as_str().unwrap());
        assert!(stop > drain, "{name}: compose waits out the drain");
    }
    let unique = |v: &Vec<String>| v.iter().collect::<std::collections::BTreeSet<_>>().len();
    assert_eq!(unique(&host_ports), host_ports.len(), "{host_ports:?}");
    assert_eq!(unique(&host_names), host_names.len(), "{host_names:?}");
}

#[test]
fn the_compose_urls_point_at_its_own_postgres_redis_and_simulator() {
    let compose = compose();
    let services = services(&compose);
    let env = environment(replicas(&services)[0].1);

    let database = url(&env["DATABASE_URL"]);
    let postgres = string_map(&services["postgres"]["environment"]);
    assert_eq!(database.host_str(), Some("postgres"));
    assert_eq!(database.port(), Some(5432));
    assert_eq!(database.username(), postgres["POSTGRES_USER"]);
    assert_eq!(
        database.password(),
        Some(postgres["POSTGRES_PASSWORD"].as_str())
    );
    assert_eq!(database.path(), format!("/{}", postgres["POSTGRES_DB"]));

    let redis = url(&env["REDIS_URL"]);
    assert_eq!(redis.host_str(), Some("redis"));
    assert!(services.contains_key("redis"));

    // By default the providers are the simulator, which listens where they look for it.
    let sim = &services["sim"];
    assert_eq!(sim["profiles"][0], "sim", "the simulator is optional");
    let dockerfile = format!(
        "{DIR}/../../{}",
        sim["build"]["dockerfile"].as_str().unwrap()
    );
    assert!(read(&dockerfile).contains("taskgate-sim"));
    let listen = sim["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .skip_while(|w| *w != "--listen")
        .nth(1)
        .unwrap()
        .as_str()
        .unwrap();
    for name in ["COMETAPI_URL", "MAKEVID_URL"] {
        let provider = url(&env[name]);
        assert_eq!(provider.host_str(), Some("sim"), "{name}");
        assert_eq!(
            provider.port().map(u64::from),
            Some(port_of(listen)),
            "{name}"
        );
    }
}
