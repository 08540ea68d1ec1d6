//! Copies from a real HTTP server on 127.0.0.1 into local storage: the stored bytes and their
//! hash, the size bound, a stalled body, and how each failure is classed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use taskgate_outputs::{copy_output, CopyError, CopyLimits, OutputId, Storage, StorageError};

use common::{files_under, pattern_sha256, pattern_stream, stored_sha256, TempDir, MIB};

const VIDEO_LEN: u64 = 3 * MIB + 123;
const MAX_BYTES: u64 = 4 * MIB;

/// The provider's file server: good files, oversized files, a stall, errors.
async fn provider() -> SocketAddr {
    let app = Router::new()
        .route(
            "/video.mp4",
            get(|| async {
                let body = Body::from_stream(pattern_stream(VIDEO_LEN, 64 * 1024));
                ([(header::CONTENT_TYPE, "video/mp4")], body)
            }),
        )
        .route(
            "/download",
            get(|| async {
                let body = Body::from_stream(pattern_stream(1000, 100));
                ([(header::CONTENT_TYPE, "binary/octet-stream")], body)
            }),
        )
        .route(
            "/streamed-big.mp4",
            get(|| async { Body::from_stream(pattern_stream(3 * MAX_BYTES, 256 * 1024)) }),
        )
        .route(
            "/declared-big.mp4",
            get(|| async {
                let body = Body::from_stream(pattern_stream(MAX_BYTES + 1, 256 * 1024));
                (
                    [(header::CONTENT_LENGTH, (MAX_BYTES + 1).to_string())],
                    body,
                )
            }),
        )
        .route(
            "/stall.mp4",
            get(|| async {
                let first =
                    stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"first")) });
                Body::from_stream(first.chain(stream::pending()))
            }),
        )
        .route("/gone.mp4", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/busy.mp4",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Fixture {
    dir: TempDir,
    storage: Storage,
    client: reqwest::Client,
    base: String,
}

impl Fixture {
    async fn new(name: &str) -> Fixture {
        let dir = TempDir::new(name);
        let storage = Storage::local(dir.path()).unwrap();
        let base = format!("http://{}", provider().await);
        Fixture {
            dir,
            storage,
            client: reqwest::Client::new(),
            base,
        }
    }

    async fn copy(
        &self,
        path: &str,
        chunk_timeout: Duration,
    ) -> Result<taskgate_outputs::StoredOutput, CopyError> {
        let output = OutputId::new("acme", "task_01JCOPY", 0).unwrap();
        let limits = CopyLimits {
            max_bytes: MAX_BYTES,
            chunk_timeout,
        };
        let url = format!("{}{path}", self.base);
        copy_output(&self.client, &self.storage, &url, &output, limits).await
    }

    fn nothing_stored(&self) {
        assert_eq!(files_under(self.dir.path()), Vec::<String>::new());
    }
}

const PATIENT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn copy_stores_the_bytes_with_their_hash_size_and_type() {
    let fixture = Fixture::new("copy-ok").await;
    let stored = fixture
        .copy("/video.mp4?X-Amz-Signature=abc", PATIENT)
        .await
        .unwrap();

    assert_eq!(stored.key.to_string(), "acme/task_01JCOPY/0.mp4");
    assert_eq!(stored.size_bytes, VIDEO_LEN);
    assert_eq!(stored.content_type, "video/mp4");
    assert_eq!(stored.sha256, pattern_sha256(VIDEO_LEN));
    assert_eq!(
        stored_sha256(&fixture.storage, &stored.key).await,
        (pattern_sha256(VIDEO_LEN), VIDEO_LEN)
    );
    assert_eq!(files_under(fixture.dir.path()), ["acme/task_01JCOPY/0.mp4"]);
}

#[tokio::test]
async fn copy_without_a_useful_type_is_octet_stream_bin() {
    let fixture = Fixture::new("copy-bin").await;
    let stored = fixture.copy("/download?id=7", PATIENT).await.unwrap();
    assert_eq!(stored.key.ext(), "bin");
    assert_eq!(stored.content_type, "application/octet-stream");
    assert_eq!(stored.size_bytes, 1000);
}

#[tokio::test]
async fn copy_past_max_bytes_fails_finally_and_keeps_nothing() {
    let fixture = Fixture::new("copy-big").await;
    for path in ["/streamed-big.mp4", "/declared-big.mp4"] {
        let err = fixture.copy(path, PATIENT).await.unwrap_err();
        assert!(
            matches!(
                err,
                CopyError::TooBig {
                    max_bytes: MAX_BYTES,
                    ..
                }
            ),
            "{path}: {err:?}"
        );
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("max_bytes"), "{err}");
        fixture.nothing_stored();
    }
}

#[tokio::test]
async fn copy_of_a_stalled_body_times_out_and_is_retried() {
    let fixture = Fixture::new("copy-stall").await;
    let err = fixture
        .copy("/stall.mp4", Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
    fixture.nothing_stored();
}

#[tokio::test]
async fn copy_of_a_gone_url_is_final_and_hides_the_query() {
    let fixture = Fixture::new("copy-404").await;
    let err = fixture
        .copy(
            "/gone.mp4?X-Amz-Signature=SECRET&X-Amz-Credential=AKID",
            PATIENT,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CopyError::Status { status: 404, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(!text.contains("SECRET") && !text.contains("AKID"), "{text}");
    assert!(text.contains("/gone.mp4"), "{text}");
    fixture.nothing_stored();
}

#[tokio::test]
async fn copy_from_a_busy_server_is_retried() {
    let fixture = Fixture::new("copy-503").await;
    let err = fixture.copy("/busy.mp4", PATIENT).await.unwrap_err();
    assert!(
        matches!(err, CopyError::Status { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn copy_from_a_closed_port_is_retried_without_the_query() {
    let fixture = Fixture::new("copy-refused").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let output = OutputId::new("acme", "task_1", 0).unwrap();
    let limits = CopyLimits {
        max_bytes: MAX_BYTES,
        chunk_timeout: PATIENT,
    };
    let url = format!("http://127.0.0.1:{port}/x.mp4?sig=SECRET");
    let err = copy_output(&fixture.client, &fixture.storage, &url, &output, limits)
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::Connect { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(!format!("{err} {err:?}").contains("SECRET"), "{err}");
}

#[tokio::test]
async fn copy_refuses_urls_that_are_not_http() {
    let fixture = Fixture::new("copy-scheme").await;
    let output = OutputId::new("acme", "task_1", 0).unwrap();
    let limits = CopyLimits {
        max_bytes: MAX_BYTES,
        chunk_timeout: PATIENT,
    };
    for url in ["file:///etc/passwd", "not a url", "ftp://example.com/x.mp4"] {
        let err = copy_output(&fixture.client, &fixture.storage, url, &output, limits)
            .await
            .unwrap_err();
        assert!(matches!(err, CopyError::InvalidUrl), "{url}: {err:?}");
        assert!(!err.is_retryable());
    }
}

#[test]
fn storage_errors_keep_their_class() {
    let err = CopyError::from(StorageError::Unavailable {
        operation: "put",
        message: "disk full".into(),
    });
    assert!(err.is_retryable());
    let err = CopyError::from(StorageError::Refused {
        operation: "put",
        message: "access denied".into(),
    });
    assert!(!err.is_retryable());
}
