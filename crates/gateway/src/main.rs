//! The `taskgate` command line (CONFIG.md, "Command line").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use taskgate::server::{shutdown_signal, Gateway};
use taskgate_config::{format_key_hash, hash_key, load, new_tenant_key};

#[derive(Parser)]
#[command(
    name = "taskgate",
    version,
    about = "One stable API for asynchronous video and image tasks across providers"
)]
struct Cli {
    /// Log format: json (default) or pretty. Also TASKGATE_LOG_FORMAT.
    #[arg(
        long,
        global = true,
        env = "TASKGATE_LOG_FORMAT",
        default_value = "json"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Json,
    Pretty,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a config file: exit 0 when valid, else print every problem and exit 2.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// The embedded default: simulated providers, SQLite, a demo tenant.
    Demo {
        /// Tenant API address (default from config/demo.yaml: 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Admin address (default 127.0.0.1:9090).
        #[arg(long)]
        admin_listen: Option<std::net::SocketAddr>,
        /// SQLite file (default data/demo.db).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Run this many gateways (on consecutive ports) against PostgreSQL and Redis.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
        replicas: u16,
        /// PostgreSQL for --replicas (default postgres://postgres@127.0.0.1:5432/test).
        #[arg(long)]
        postgres_url: Option<String>,
        /// Redis for --replicas (default redis://127.0.0.1:6379).
        #[arg(long)]
        redis_url: Option<String>,
    },
    /// Tenant keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Make a new tenant key and print it with its hash for the config.
    New,
    /// Print the config hash of a key.
    Hash { key: String },
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Key { command } => {
            match command {
                KeyCommand::New => {
                    let key = new_tenant_key();
                    println!("key:  {key}\nhash: {}", format_key_hash(&hash_key(&key)));
                }
                KeyCommand::Hash { key } => println!("{}", format_key_hash(&hash_key(&key))),
            }
            ExitCode::SUCCESS
        }
        Command::Serve { config } => {
            init_logs(cli.log_format);
            run_async(serve(config))
        }
        Command::Demo {
            listen,
            admin_listen,
            db,
            replicas,
            postgres_url,
            redis_url,
        } => {
            init_logs(cli.log_format);
            run_async(taskgate::demo::run(taskgate::demo::DemoOptions {
                listen,
                admin_listen,
                sqlite_path: db,
                replicas,
                postgres_url,
                redis_url,
            }))
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match load(path) {
        Ok(config) => {
            if let Some(problem) = unwritable_outputs(&config) {
                eprintln!("{problem}");
                return ExitCode::from(2);
            }
            println!(
                "{}: valid (version {}, {} providers, {} tenants)",
                path.display(),
                config.version,
                config.providers.len(),
                config.tenants.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for problem in &errors.0 {
                eprintln!("{problem}");
            }
            ExitCode::from(2)
        }
    }
}

/// `outputs.storage.path` of `local` storage must be a directory the gateway can write (it
/// is made at start when missing, so its nearest existing ancestor must be writable): the
/// one check of the file that looks at the machine, since a copy that can never be stored
/// would fail every task's outputs.
fn unwritable_outputs(config: &taskgate_config::Config) -> Option<String> {
    let storage = &config.outputs.as_ref()?.storage;
    let taskgate_outputs::StorageKind::Local { path } = &storage.kind else {
        return None;
    };
    let problem = |why: String| format!("outputs.storage.path: {} {why}", path.display());
    let mut existing = path.as_path();
    while !existing.exists() {
        existing = match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => std::path::Path::new("."),
        };
    }
    if !existing.is_dir() {
        return Some(problem(format!(
            "cannot be a directory: {} is a file",
            existing.display()
        )));
    }
    let probe = existing.join(format!(".taskgate-check-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(problem(format!(
            "is not writable ({}: {e})",
            existing.display()
        ))),
    }
}

/// Per-request allocations dominate the gateway's own CPU time; mimalloc spends about half
/// of what glibc's allocator does on them (see BENCHMARKS.md). Built without transparent
/// huge pages: with them its first arena alone kept 12 MiB resident at idle.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run_async(work: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("taskgate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "taskgate stopped");
            eprintln!("taskgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(path: PathBuf) -> anyhow::Result<()> {
    let config =
        load(&path).map_err(|e| anyhow::anyhow!("{}: invalid config:\n{e}", path.display()))?;
    let gateway = Gateway::start(config).await?;
    let reloader = taskgate::reload::spawn(path, gateway.state.clone());
    shutdown_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    reloader.abort();
    gateway.shutdown().await;
    Ok(())
}
