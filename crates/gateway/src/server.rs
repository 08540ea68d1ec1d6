//! Starting and stopping the gateway: store, config snapshot, both listeners.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use reqwest::dns::Resolve;
use taskgate_config::{Config, ServerConfig, StoreConfig};
use taskgate_store::{MemoryStore, PostgresStore, SqliteStore, TaskStore};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{admin_router, tenant_router};
use crate::lifecycle::webhook_http::{SystemResolver, WebhookHttp};
use crate::runtime::Runtime;
use crate::state::AppState;

/// A running gateway.
pub struct Gateway {
    pub tenant_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub state: AppState,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
}

pub async fn open_store(config: &StoreConfig) -> anyhow::Result<Arc<dyn TaskStore>> {
    Ok(match config {
        StoreConfig::Memory => Arc::new(MemoryStore::new()),
        StoreConfig::Sqlite { path } => Arc::new(
            SqliteStore::open(path)
                .await
                .with_context(|| format!("opening the SQLite store at {}", path.display()))?,
        ),
        // The URL may hold a password: the context names the store, never the URL, and the
        // store's errors leave it out too.
        StoreConfig::Postgres { url } => Arc::new(
            PostgresStore::connect(url.expose())
                .await
                .context("opening the PostgreSQL store")?,
        ),
    })
}

impl Gateway {
    /// Opens the store, binds both listeners and starts serving.
    pub async fn start(config: Config) -> anyhow::Result<Gateway> {
        let store = open_store(&config.store).await?;
        Gateway::start_with_store(config, store).await
    }

    pub async fn start_with_store(
        config: Config,
        store: Arc<dyn TaskStore>,
    ) -> anyhow::Result<Gateway> {
        Gateway::start_with_resolver(config, store, Arc::new(SystemResolver)).await
    }

    /// As [`Gateway::start_with_store`], with webhook host names looked up by `resolver`
    /// (the callback policy still filters what it answers).
    pub async fn start_with_resolver(
        config: Config,
        store: Arc<dyn TaskStore>,
        resolver: Arc<dyn Resolve>,
    ) -> anyhow::Result<Gateway> {
        let listen = config.server.listen;
        let admin_listen = config.server.admin_listen;
        let runtime = Arc::new(ArcSwap::from_pointee(Runtime::build(config, None)?));
        let tenant_listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the tenant listener on {listen}"))?;
        let admin_listener = TcpListener::bind(admin_listen)
            .await
            .with_context(|| format!("binding the admin listener on {admin_listen}"))?;
        let tenant_addr = tenant_listener.local_addr()?;
        let admin_addr = admin_listener.local_addr()?;
        // The bound addresses, not the configured ones: port 0 becomes a real port here.
        let webhook_http = WebhookHttp::new(&[tenant_addr, admin_addr], runtime.clone(), resolver)
            .context("building the webhook HTTP client")?;
        let files = files_access(&*store, tenant_addr).await?;
        let state = AppState::new(runtime, store, webhook_http, files)?;
        let (stop, stopped) = watch::channel(false);
        let background = crate::lifecycle::spawn(&state, stopped.clone());
        let server = state.runtime.load().config.server.clone();
        let servers = vec![
            spawn_server(
                tenant_listener,
                tenant_router(state.clone()),
                server.clone(),
                stopped.clone(),
            ),
            spawn_server(admin_listener, admin_router(state.clone()), server, stopped),
        ];
        tracing::info!(listen = %tenant_addr, admin_listen = %admin_addr, config_version = %state.runtime.load().config.version, "taskgate ready");
        Ok(Gateway {
            tenant_addr,
            admin_addr,
            state,
            stop,
            servers,
            background,
        })
    }

    /// Stops accepting, lets in-flight requests finish for up to `server.shutdown_grace`
    /// (then drops the rest), and closes the store.
    pub async fn shutdown(self) {
        let grace = self.state.runtime.load().config.server.shutdown_grace;
        let _ = self.stop.send(true);
        let aborts: Vec<_> = self
            .servers
            .iter()
            .map(JoinHandle::abort_handle)
            .chain(self.background.iter().map(JoinHandle::abort_handle))
            .collect();
        let background = self.background;
        let drained = tokio::time::timeout(grace, async {
            // The watcher and the outbox finish the round they are in; creates the queue
            // is sending record their outcome.
            for task in background {
                let _ = task.await;
            }
            self.state.dispatches.idle().await;
            for server in self.servers {
                match server.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "listener failed"),
                    Err(e) if e.is_cancelled() => {}
                    Err(e) => tracing::error!(error = %e, "listener task failed"),
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "shutdown grace over; dropping the requests still in flight"
            );
            for abort in aborts {
                abort.abort();
            }
        }
        self.state.store.close().await;
        tracing::info!("taskgate stopped");
    }
}

/// The signing key every replica shares (made by the first) and the tenant listener's
/// address as clients on this host reach it.
async fn files_access(
    store: &dyn TaskStore,
    tenant_addr: std::net::SocketAddr,
) -> anyhow::Result<crate::outputs::present::FilesAccess> {
    use rand::RngCore;
    let mut candidate = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut candidate);
    let key = store
        .shared_secret(
            crate::outputs::present::SHARED_KEY_NAME,
            &hex::encode(candidate),
        )
        .await
        .context("reading the files signing key from the store")?;
    let mut reachable = tenant_addr;
    if reachable.ip().is_unspecified() {
        reachable.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok(crate::outputs::present::FilesAccess {
        shared_key: key.into_bytes(),
        listener_base: format!("http://{reachable}"),
    })
}

fn spawn_server(
    listener: TcpListener,
    router: axum::Router,
    server: ServerConfig,
    stopped: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move { crate::connections::serve(listener, router, &server, stopped).await })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
