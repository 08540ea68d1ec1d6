//! `taskgate demo`: the simulated providers, the gateway on SQLite, a demo tenant, and
//! copy-paste commands to try it. No setup, no keys.

use taskgate_config::{format_key_hash, from_yaml, hash_key, new_tenant_key};
use taskgate_sim::SimServer;

use crate::server::{shutdown_signal, Gateway};

const DEMO_CONFIG: &str = include_str!("../../../config/demo.yaml");

pub async fn run() -> anyhow::Result<()> {
    let sim = SimServer::start().await?;
    let key = new_tenant_key();
    let key_hash = format_key_hash(&hash_key(&key));
    let sim_url = sim.base_url();
    let env = |name: &str| match name {
        "TASKGATE_SIM_URL" => Some(sim_url.clone()),
        "TASKGATE_DEMO_KEY_HASH" => Some(key_hash.clone()),
        other => std::env::var(other).ok(),
    };
    let config = from_yaml(DEMO_CONFIG, &env).map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
    let gateway = Gateway::start(config).await?;
    println!(
        "{}",
        instructions(
            &key,
            &gateway.tenant_addr.to_string(),
            &gateway.admin_addr.to_string(),
            &sim_url
        )
    );
    shutdown_signal().await;
    gateway.shutdown().await;
    Ok(())
}

fn instructions(key: &str, addr: &str, admin: &str, sim: &str) -> String {
    format!(
        r#"
taskgate demo is running.
  tenant API:  http://{addr}      (tenant "demo")
  admin:       http://{admin}     (/healthz /readyz /openapi.json)
  providers:   simulated at {sim} (CometAPI both formats, Runway, makevid)
  store:       SQLite at data/demo.db

Tenant key (new each run):
  export TASKGATE_KEY={key}

Create a task:
  curl -s -X POST http://{addr}/v1/tasks -H "Authorization: Bearer $TASKGATE_KEY" -H 'Content-Type: application/json' \
    -d '{{"type":"text_to_video","input":{{"prompt":"a red fox runs through fresh snow","duration_s":5}}}}' | tee /tmp/taskgate-task.json; echo

Follow it to the end (queued -> running -> succeeded with a video URL, about 5 seconds):
  ID=$(sed -E 's/^\{{"id":"([^"]+)".*/\1/' /tmp/taskgate-task.json)
  for i in $(seq 1 20); do curl -s http://{addr}/v1/tasks/$ID -H "Authorization: Bearer $TASKGATE_KEY"; echo; sleep 1; done

List your tasks:
  curl -s http://{addr}/v1/tasks -H "Authorization: Bearer $TASKGATE_KEY"; echo

Ctrl-C stops the demo.
"#
    )
}
