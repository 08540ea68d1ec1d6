//! `taskgate-sim`: serve the simulated providers on one address until interrupted.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::net::SocketAddr;

use clap::Parser;
use taskgate_sim::{Script, SimConfig, SimServer};

/// Simulates taskgate's upstreams (CometAPI compat and official, Runway, makevid).
#[derive(Debug, Parser)]
#[command(name = "taskgate-sim", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Accepted bearer key; repeat for several. Without any, every non-empty key is accepted.
    #[arg(long = "key")]
    keys: Vec<String>,
    /// CometAPI dialects: how long a fresh id answers task_not_exist.
    #[arg(long)]
    not_visible_ms: Option<u64>,
    /// How long tasks stay queued.
    #[arg(long)]
    queued_ms: Option<u64>,
    /// How long tasks run.
    #[arg(long)]
    run_ms: Option<u64>,
}

impl Args {
    fn config(&self) -> SimConfig {
        let mut scenario = Script::default();
        if let Some(ms) = self.not_visible_ms {
            scenario.not_visible_ms = ms;
        }
        if let Some(ms) = self.queued_ms {
            scenario.queued_ms = ms;
        }
        if let Some(ms) = self.run_ms {
            scenario.run_ms = ms;
        }
        let accepted_keys =
            (!self.keys.is_empty()).then(|| self.keys.iter().cloned().collect::<HashSet<_>>());
        SimConfig {
            accepted_keys,
            scenario,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let server = SimServer::start_with(args.config(), args.listen).await?;
    tracing::info!(addr = %server.addr(), "taskgate-sim listening on {}", server.base_url());
    tokio::signal::ctrl_c().await?;
    drop(server);
    Ok(())
}
