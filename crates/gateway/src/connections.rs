//! Serving one listener: each accepted socket is one hyper connection (HTTP/1.1 with
//! keep-alive, or HTTP/2 when the client opens with its preface), and a stop lets the
//! connections finish what they are doing.
//!
//! hyper answers some requests itself, bare (no body, no `x-request-id`), before the router
//! sees them. Its ceilings are set here above the gateway's own limits, so the gateway
//! answers those requests in the contract's shape (`layers/header_limit.rs`). What hyper
//! still answers itself:
//! - HTTP/1: more than twice `server.max_header_count` fields (its parser's slots: every
//!   request pays for each one, so they are not raised further), or a request head past
//!   [`READ_BUFFER`]: a bare 431, then the connection closes. A request line past 64 KiB: a
//!   bare 414. A head that does not parse: a bare 400.
//! - HTTP/2: a header block past [`READ_BUFFER`] (as HTTP/2 counts it, 32 bytes more per
//!   field): a bare 431 on that stream.
//! - HTTP/1: a request head that does not arrive within [`head_read_timeout`] (a client
//!   that stalls mid-headers, slowloris-style): the connection is closed without an answer
//!   (hyper writes none). The same bound closes a keep-alive connection left idle that
//!   long, as any server's keep-alive timeout does.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use taskgate_config::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How much of a request head hyper buffers before it gives up on it: hyper's own default
/// (8 KiB + 100 × 4 KiB). It is memory one connection can hold, so it is not raised; it
/// stays above the highest `server.max_header_bytes`.
pub const READ_BUFFER: usize = 8192 + 4096 * 100;

// The largest header block the gateway may be asked to judge, plus a request line of up to
// hyper's 64 KiB, fits in the buffer.
const _: () = assert!(READ_BUFFER > taskgate_config::MAX_HEADER_BYTES + 64 * 1024);

/// How long a request head may take to arrive: the whole request's bound, and never less
/// than hyper's default, so a client's keep-alive pool is not cut short.
fn head_read_timeout(server: &ServerConfig) -> Duration {
    server.request_timeout.max(Duration::from_secs(30))
}

/// The hyper connection settings for a listener with these limits.
fn builder(server: &ServerConfig) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_headers(server.max_header_count.saturating_mul(2))
        .max_buf_size(READ_BUFFER)
        .timer(TokioTimer::new())
        .header_read_timeout(head_read_timeout(server));
    builder
        .http2()
        // As `axum::serve` had it (CONNECT-based protocols over HTTP/2).
        .enable_connect_protocol()
        .max_header_list_size(u32::try_from(READ_BUFFER).unwrap_or(u32::MAX));
    builder
}

/// Serves `router` on `listener` until `stopped` turns true (or its sender goes away): then
/// stops accepting, asks every connection to finish its requests in flight and close, and
/// returns once they have. Dropping the future drops the connections too.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    server: &ServerConfig,
    mut stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let builder = Arc::new(builder(server));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop(&mut stopped) => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let conn = connection(builder.clone(), stream, router.clone(), stopped.clone());
                    connections.spawn(conn);
                }
                Err(e) => accept_failed(e).await,
            },
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn connection(
    builder: Arc<Builder<TokioExecutor>>,
    stream: TcpStream,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let service = TowerToHyperService::new(router);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stop(&mut stopped) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // A client that goes away or speaks nonsense: its own business.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Resolves once `stopped` is true, or its sender is gone.
async fn stop(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Errors of one incoming connection are that connection's; others (out of file
/// descriptors) pass with time, so the loop waits a little rather than spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_is_bounded_by_the_request_timeout_and_never_below_thirty_seconds() {
        let mut server = ServerConfig {
            request_timeout: Duration::from_secs(60),
            ..ServerConfig::default()
        };
        assert_eq!(head_read_timeout(&server), Duration::from_secs(60));
        server.request_timeout = Duration::from_secs(5);
        assert_eq!(head_read_timeout(&server), Duration::from_secs(30));
    }
}
