//! The real `taskgate` binary as a child process: a config file in a temp folder, its
//! stderr (the JSON log) collected line by line, signals sent with `kill`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A fresh folder under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "taskgate-{name}-{}-{}",
        std::process::id(),
        ulid::Ulid::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `path` through a temp file and a rename, as editors and ConfigMaps do,
/// so a reader never sees half of it.
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension(format!("tmp-{}", ulid::Ulid::new()));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A running `taskgate serve`.
pub struct Gateway {
    child: Child,
    /// `http://` + the tenant listener.
    pub base: String,
    /// `http://` + the admin listener.
    pub admin: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    /// Starts `taskgate serve --config path` with `env` and `RUST_LOG=rust_log`, and waits
    /// for its ready line.
    pub async fn start(path: &Path, env: &[(&str, &str)], rust_log: &str) -> Gateway {
        let mut command = Command::new(env!("CARGO_BIN_EXE_taskgate"));
        command
            .args(["serve", "--config"])
            .arg(path)
            .env("RUST_LOG", rust_log)
            .env_remove("TASKGATE_LOG_FORMAT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut gateway = Gateway {
            child,
            base: String::new(),
            admin: String::new(),
            lines,
        };
        let ready = gateway
            .wait_for_log(Duration::from_secs(30), |v| {
                v["message"] == "taskgate ready"
            })
            .await
            .unwrap_or_else(|| panic!("not ready; stderr:\n{}", gateway.stderr()));
        gateway.base = format!("http://{}", ready["listen"].as_str().unwrap());
        gateway.admin = format!("http://{}", ready["admin_listen"].as_str().unwrap());
        gateway
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything logged so far.
    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The JSON log lines so far.
    pub fn log(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits for a JSON log line matching `pred`.
    pub async fn wait_for_log(
        &self,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let start = Instant::now();
        loop {
            if let Some(found) = self.log().into_iter().find(|v| pred(v)) {
                return Some(found);
            }
            if start.elapsed() > limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Whether the process has exited by now.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "still running after {limit:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
