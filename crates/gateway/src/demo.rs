//! `taskgate demo`: the simulated providers, the gateway on SQLite, a demo tenant, and
//! copy-paste commands to try it. No setup, no keys.

use std::net::SocketAddr;
use std::path::PathBuf;

use taskgate_config::{
    format_key_hash, from_yaml, hash_key, new_tenant_key, ClusterConfig, Config, StoreConfig,
};
use taskgate_core::Secret;
use taskgate_sim::SimServer;

use crate::server::{shutdown_signal, Gateway};

const DEMO_CONFIG: &str = include_str!("../../../config/demo.yaml");

/// Where the demo listens and keeps its tasks; `None` keeps `config/demo.yaml`'s choice.
#[derive(Debug, Default, Clone)]
pub struct DemoOptions {
    pub listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub sqlite_path: Option<PathBuf>,
    /// More than 1: that many gateways on PostgreSQL and Redis (see [`run_replicas`]).
    pub replicas: u16,
    pub postgres_url: Option<String>,
    pub redis_url: Option<String>,
}

/// The local PostgreSQL and Redis that `demo --replicas` uses by default.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    if options.replicas > 1 {
        return run_replicas(options).await;
    }
    let sim = SimServer::start().await?;
    let key = new_tenant_key();
    let sim_url = sim.base_url();
    let mut config = demo_config(&sim_url, &key)?;
    if let Some(listen) = options.listen {
        config.server.listen = listen;
    }
    if let Some(admin) = options.admin_listen {
        config.server.admin_listen = admin;
    }
    if let Some(path) = options.sqlite_path {
        // Outputs go beside the database the user chose, not into the working directory.
        if let Some(outputs) = config.outputs.as_mut() {
            let dir = path.parent().unwrap_or(std::path::Path::new("."));
            outputs.storage = taskgate_outputs::StorageSettings {
                kind: taskgate_outputs::StorageKind::Local {
                    path: dir.join("outputs"),
                },
            };
        }
        config.store = StoreConfig::Sqlite { path };
    }
    let store_path = match &config.store {
        StoreConfig::Sqlite { path } => path.display().to_string(),
        other => other.kind().to_string(),
    };
    let gateway = Gateway::start(config).await?;
    println!(
        "{}",
        instructions(
            &key,
            &gateway.tenant_addr.to_string(),
            &gateway.admin_addr.to_string(),
            &sim_url,
            &store_path
        )
    );
    shutdown_signal().await;
    gateway.shutdown().await;
    Ok(())
}

/// The demo config with the simulator's address and the key's hash filled in.
fn demo_config(sim_url: &str, key: &str) -> anyhow::Result<Config> {
    let key_hash = format_key_hash(&hash_key(key));
    let env = |name: &str| match name {
        "TASKGATE_SIM_URL" => Some(sim_url.to_string()),
        "TASKGATE_DEMO_KEY_HASH" => Some(key_hash.clone()),
        other => std::env::var(other).ok(),
    };
    from_yaml(DEMO_CONFIG, &env).map_err(|e| anyhow::anyhow!("demo config: {e}"))
}

/// `addr` with its port moved up by `n` (port 0 stays 0: the system picks).
fn nth_port(addr: SocketAddr, n: u16) -> SocketAddr {
    let mut addr = addr;
    if addr.port() != 0 {
        addr.set_port(addr.port().saturating_add(n));
    }
    addr
}

/// `demo --replicas N`: the simulator and N gateways in this process on consecutive ports,
/// sharing the local PostgreSQL and Redis, each with its own replica id.
pub async fn run_replicas(options: DemoOptions) -> anyhow::Result<()> {
    let sim = SimServer::start().await?;
    let sim_url = sim.base_url();
    let key = new_tenant_key();
    let base = demo_config(&sim_url, &key)?;
    let listen = options.listen.unwrap_or(base.server.listen);
    let admin = options.admin_listen.unwrap_or(base.server.admin_listen);
    let postgres = options
        .postgres_url
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string());
    let redis = options
        .redis_url
        .unwrap_or_else(|| DEFAULT_REDIS_URL.to_string());
    let mut gateways = Vec::new();
    for n in 0..options.replicas {
        let mut config = base.clone();
        config.server.listen = nth_port(listen, n);
        config.server.admin_listen = nth_port(admin, n);
        config.store = StoreConfig::Postgres {
            url: Secret::new(&postgres),
        };
        config.cluster = Some(ClusterConfig {
            redis_url: Secret::new(&redis),
            replica_id: Some(format!("demo-{}", n + 1)),
            namespace: "taskgate-demo".to_string(),
        });
        let gateway = Gateway::start(config)
            .await
            .map_err(|e| anyhow::anyhow!("replica {}: {e:#}", n + 1))?;
        gateways.push(gateway);
    }
    let tenants: Vec<String> = gateways.iter().map(|g| g.tenant_addr.to_string()).collect();
    let admins: Vec<String> = gateways.iter().map(|g| g.admin_addr.to_string()).collect();
    println!(
        "{}",
        replica_instructions(&key, &tenants, &admins, &sim_url)
    );
    shutdown_signal().await;
    for gateway in gateways {
        gateway.shutdown().await;
    }
    Ok(())
}

fn replica_instructions(key: &str, tenants: &[String], admins: &[String], sim: &str) -> String {
    let list: String = tenants
        .iter()
        .zip(admins)
        .enumerate()
        .map(|(i, (t, a))| {
            format!(
                "  replica {}:   http://{t}   (admin http://{a}, replica_id demo-{})\n",
                i + 1,
                i + 1
            )
        })
        .collect();
    let first = tenants.first().map_or("", String::as_str);
    let second = tenants.get(1).map_or(first, String::as_str);
    let third = tenants.get(2).map_or(second, String::as_str);
    format!(
        r#"
taskgate demo is running with {n} replicas (PostgreSQL store, Redis for global limits and events).
{list}  providers:   simulated at {sim}

Tenant key (new each run):
  export TASKGATE_KEY={key}

Create a task on replica 1:
  curl -s -X POST http://{first}/v1/tasks -H "Authorization: Bearer $TASKGATE_KEY" -H 'Content-Type: application/json' \
    -d '{{"type":"text_to_video","input":{{"prompt":"a red fox runs through fresh snow","duration_s":5}}}}' | tee /tmp/taskgate-replicas-task.json; echo
  ID=$(sed -E 's/^\{{"id":"([^"]+)".*/\1/' /tmp/taskgate-replicas-task.json)

Read it on replica 2, and long-poll it to the end on replica 3:
  curl -s http://{second}/v1/tasks/$ID -H "Authorization: Bearer $TASKGATE_KEY"; echo
  curl -s "http://{third}/v1/tasks/$ID?wait=30" -H "Authorization: Bearer $TASKGATE_KEY"; echo

Or stream its events from replica 2:
  curl -sN http://{second}/v1/tasks/$ID/events -H "Authorization: Bearer $TASKGATE_KEY"

Each replica's /readyz says whether limits are global (Redis up) or local shares.
Ctrl-C stops the demo.
"#,
        n = tenants.len()
    )
}

fn instructions(key: &str, addr: &str, admin: &str, sim: &str, store: &str) -> String {
    format!(
        r#"
taskgate demo is running.
  tenant API:  http://{addr}      (tenant "demo")
  admin:       http://{admin}     (/healthz /readyz /openapi.json)
  providers:   simulated at {sim} (CometAPI both formats, Runway, makevid)
  store:       SQLite at {store}

Tenant key (new each run):
  export TASKGATE_KEY={key}

Create a task:
  curl -s -X POST http://{addr}/v1/tasks -H "Authorization: Bearer $TASKGATE_KEY" -H 'Content-Type: application/json' \
    -d '{{"type":"text_to_video","input":{{"prompt":"a red fox runs through fresh snow","duration_s":5}}}}' | tee /tmp/taskgate-task.json; echo

Follow it to the end (queued -> running -> succeeded with a video URL, about 5 seconds):
  ID=$(sed -E 's/^\{{"id":"([^"]+)".*/\1/' /tmp/taskgate-task.json)
  for i in $(seq 1 30); do T=$(curl -s http://{addr}/v1/tasks/$ID -H "Authorization: Bearer $TASKGATE_KEY"); echo "$T"; case "$T" in *'"status":"succeeded"'*|*'"status":"failed"'*) break;; esac; sleep 1; done

List your tasks:
  curl -s http://{addr}/v1/tasks -H "Authorization: Bearer $TASKGATE_KEY"; echo

Ctrl-C stops the demo.
"#
    )
}
