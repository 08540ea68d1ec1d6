//! `taskgate demo` as a new user runs it: start it, then run the curl commands it prints,
//! verbatim, in a shell, and see the task reach `succeeded` with a video URL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[test]
fn the_printed_curls_take_a_task_to_succeeded() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is needed for this test (apt-get install curl)");
    }
    let dir = std::env::temp_dir().join(format!("taskgate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskgate"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(dir.join("demo.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = run_printed_commands(&mut child, "/tmp/taskgate-task.json");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "script failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last_task = stdout
        .lines()
        .rfind(|l| l.starts_with("{\"id\""))
        .expect("no task printed");
    let task: serde_json::Value = serde_json::from_str(last_task).unwrap();
    assert_eq!(task["status"], "succeeded", "{stdout}");
    // The demo keeps outputs: the URL is the gateway's, signed.
    let output = &task["outputs"][0];
    assert_eq!(output["stored"], true, "{output}");
    assert!(output["url"].as_str().unwrap().contains("/v1/files/"));
    assert!(output["provider_url"].as_str().unwrap().ends_with(".mp4"));
}

/// Waits for the demo's instructions on its stdout, then runs the indented commands after
/// "Tenant key" in a shell, as a user would paste them.
fn run_printed_commands(child: &mut Child, task_file: &str) -> std::process::Output {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
            if line.starts_with("Ctrl-C") {
                let _ = tx.send(text.clone());
            }
        }
    });
    let printed = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("demo printed no instructions");
    // The commands are the indented lines after "Tenant key", in order.
    let commands: Vec<&str> = printed
        .lines()
        .skip_while(|l| !l.starts_with("Tenant key"))
        .filter(|l| l.starts_with("  "))
        .collect();
    let script = format!("set -e\n{}\n", commands.join("\n").replace(" \\\n", " "));
    let _ = std::fs::remove_file(task_file);
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replicas_a_task_created_on_one_is_followed_on_the_others() {
    if !common::cluster::shared_redis_or_skip().await {
        return;
    }
    let Some(schema) = common::postgres::TestSchema::create().await else {
        return;
    };
    // The demo keeps outputs under ./data: a folder of the test's own.
    let dir = std::env::temp_dir().join(format!("taskgate-demo-replicas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskgate"))
        .current_dir(&dir)
        .args(["demo", "--replicas", "3", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0", "--postgres-url"])
        .arg(schema.url())
        .arg("--redis-url")
        .arg(common::cluster::redis_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = tokio::task::block_in_place(|| {
        run_printed_commands(&mut child, "/tmp/taskgate-replicas-task.json")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "script failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The long-poll on replica 3 answers the finished task; the stream on replica 2 ends
    // with it.
    let waited = stdout
        .lines()
        .rfind(|l| l.starts_with("{\"id\""))
        .expect("no task printed");
    let task: serde_json::Value = serde_json::from_str(waited).unwrap();
    assert_eq!(task["status"], "succeeded", "{stdout}");
    let streamed = stdout
        .lines()
        .rfind(|l| l.starts_with("data:"))
        .expect("no event streamed");
    assert!(streamed.contains("\"status\":\"succeeded\""), "{stdout}");
}
