//! `taskgate demo`: the simulated providers, the gateway on SQLite, a demo tenant, and
//! copy-paste commands to try it. No setup, no keys.

use std::net::SocketAddr;
use std::path::PathBuf;

use taskgate_config::{format_key_hash, from_yaml, hash_key, new_tenant_key, StoreConfig};
use taskgate_sim::SimServer;

use crate::server::{shutdown_signal, Gateway};

const DEMO_CONFIG: &str = include_str!("../../../config/demo.yaml");

/// Where the demo listens and keeps its tasks; `None` keeps `config/demo.yaml`'s choice.
#[derive(Debug, Default, Clone)]
pub struct DemoOptions {
    pub listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub sqlite_path: Option<PathBuf>,
}

pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let sim = SimServer::start().await?;
    let key = new_tenant_key();
    let key_hash = format_key_hash(&hash_key(&key));
    let sim_url = sim.base_url();
    let env = |name: &str| match name {
        "TASKGATE_SIM_URL" => Some(sim_url.clone()),
        "TASKGATE_DEMO_KEY_HASH" => Some(key_hash.clone()),
        other => std::env::var(other).ok(),
    };
    let mut config =
        from_yaml(DEMO_CONFIG, &env).map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
    if let Some(listen) = options.listen {
        config.server.listen = listen;
    }
    if let Some(admin) = options.admin_listen {
        config.server.admin_listen = admin;
    }
    if let Some(path) = options.sqlite_path {
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
