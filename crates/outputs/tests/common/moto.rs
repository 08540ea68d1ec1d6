//! A real S3-compatible server on loopback: Python's `moto` in server mode, run from the
//! virtualenv `.ci/setup` builds (`TASKGATE_PYTHON`, else `.ci/venv/bin/python3`, as the
//! gateway's Python-driven tests find it). Without it the test skips with a notice, except
//! under `CI=true`, where it fails. The server is killed when the guard drops.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server's own folder (its log), removed on drop. Kept here, not shared with the
/// tests' helpers, so the gateway's tests can include this file as it is.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "taskgate-{name}-{}-{}",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `moto.server`; killed on drop.
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MotoServer {
    /// Starts moto and waits until it answers; `None` (with a notice) when the Python tools
    /// are missing outside CI.
    pub async fn start() -> Option<MotoServer> {
        let python = python_with_moto()?;
        let dir = TempDir::new("moto");
        let log = dir.path().join("moto.log");
        let port = free_port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .current_dir(dir.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("moto.err")).unwrap())
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {}: {err}", python.display()));
        let server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        server.wait_until_ready().await;
        Some(server)
    }

    /// Creates `bucket` (moto does not check signatures, so a plain PUT does).
    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "create bucket: {}",
            response.status()
        );
    }

    /// The multipart uploads started in `bucket` and neither completed nor aborted.
    pub async fn open_uploads(&self, bucket: &str) -> usize {
        let listing = reqwest::Client::new()
            .get(format!("{}/{bucket}?uploads", self.endpoint))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(listing.contains("ListMultipartUploadsResult"), "{listing}");
        listing.matches("<Upload>").count()
    }

    async fn wait_until_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if client.get(&self.endpoint).send().await.is_ok() {
                return;
            }
            // Polling a child process's readiness: the one wait here, bounded above.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let err = std::fs::read_to_string(self.log.with_file_name("moto.err")).unwrap_or_default();
        panic!(
            "moto did not answer on {} within 60s:\n{err}",
            self.endpoint
        );
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The virtualenv's python when it can run moto; otherwise skip, or fail under `CI=true`.
fn python_with_moto() -> Option<PathBuf> {
    let python = std::env::var_os("TASKGATE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".ci/venv/bin/python3"));
    let on_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let missing = if !python.is_file() {
        Some(format!("{} is not a file", python.display()))
    } else {
        let probe = Command::new(&python)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match probe {
            Ok(status) if status.success() => None,
            _ => Some(format!("{} cannot import moto.server", python.display())),
        }
    };
    let Some(reason) = missing else {
        return Some(python);
    };
    let notice =
        format!("the S3 test server is missing ({reason}); run .ci/setup or set TASKGATE_PYTHON");
    if on_ci {
        panic!("{notice} (CI=true, so this fails)");
    }
    eprintln!("notice: {notice}; skipping this test.");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
