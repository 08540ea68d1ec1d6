//! The command line: `check` exit codes and messages, `key new` / `key hash`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn taskgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_taskgate"))
}

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn with_example_env(cmd: &mut Command) -> &mut Command {
    for var in [
        "COMETAPI_KEY",
        "MAKEVID_KEY",
        "RUNWAY_KEY",
        "ACME_COMET_KEY",
        "TASKGATE_SIM_URL",
        "TASKGATE_PUBLIC_URL",
    ] {
        cmd.env(var, "http://127.0.0.1:9");
    }
    cmd.env(
        "TASKGATE_DEMO_KEY_HASH",
        format!("sha256:{}", "a".repeat(64)),
    )
    .env(
        "ACME_WEBHOOK_SECRET",
        "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg=",
    )
    .env(
        "BETA_WEBHOOK_SECRET",
        "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg=",
    )
}

#[test]
fn check_accepts_every_shipped_config() {
    let mut files = vec![
        repo_file("config/demo.yaml"),
        repo_file("config/example.yaml"),
    ];
    for entry in std::fs::read_dir(repo_file("config/providers")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for file in files {
        let out = with_example_env(&mut taskgate())
            .arg("check")
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn check_prints_every_problem_with_its_path_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("taskgate-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        r#"
server: {listen: 127.0.0.1:8080, colour: blue}
tasks: {refresh_after: soon}
providers:
  makevid: {type: makevid, base_url: "https://makevid.ai", api_key: "${TASKGATE_TEST_UNSET_VAR}"}
tenants:
  acme:
    keys: ["sha256:0000"]
    routes:
      text_to_image: [makevid]
      text_to_video: [makevd]
"#,
    )
    .unwrap();
    let out = taskgate()
        .arg("check")
        .arg("--config")
        .arg(&file)
        .env_remove("TASKGATE_TEST_UNSET_VAR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in ["colour", "TASKGATE_TEST_UNSET_VAR"] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    let missing = taskgate()
        .arg("check")
        .arg("--config")
        .arg(dir.join("absent.yaml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// CometAPI compat's `act_one` takes no task without a callback URL: the shipped example
/// without its `server.public_url` is refused, naming the route and the setting.
#[test]
fn check_refuses_a_route_that_needs_server_public_url_without_it() {
    let shipped = repo_file("config/providers/cometapi_compat.yaml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let server = "server:\n  public_url: ${TASKGATE_PUBLIC_URL}\n";
    assert!(text.contains(server), "{text}");
    let dir = std::env::temp_dir().join(format!("taskgate-check-url-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compat.yaml");
    std::fs::write(&file, text.replace(server, "")).unwrap();
    let out = with_example_env(&mut taskgate())
        .arg("check")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "tenants.main.routes.character_performance[0]: provider 'comet-compat' \
         (type cometapi_compat) cannot run character_performance without server.public_url \
         (it needs a callback URL to create this type)"
    );

    let out = with_example_env(&mut taskgate())
        .arg("check")
        .arg("--config")
        .arg(&shipped)
        .env("TASKGATE_PUBLIC_URL", "https://taskgate.example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn key_new_prints_a_key_whose_hash_key_hash_reproduces() {
    let out = taskgate().args(["key", "new"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("key:"))
        .unwrap()
        .trim()
        .to_string();
    let hash = text
        .lines()
        .find_map(|l| l.strip_prefix("hash:"))
        .unwrap()
        .trim()
        .to_string();
    assert!(hash.starts_with("sha256:") && hash.len() == 7 + 64);
    let out = taskgate().args(["key", "hash", &key]).output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), hash);
}

/// `local` outputs storage must be a directory the gateway can write: `check` looks at the
/// machine for this one setting.
#[test]
fn check_refuses_local_outputs_storage_that_cannot_be_a_writable_directory() {
    let dir = std::env::temp_dir().join(format!("taskgate-check-outputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a-file"), b"").unwrap();
    let config = |path: &std::path::Path| {
        format!(
            r#"
providers:
  makevid: {{type: makevid, base_url: "https://makevid.ai", api_key: k}}
outputs:
  storage: {{kind: local, path: "{}"}}
tenants:
  acme:
    keys: ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]
    routes: {{text_to_video: [makevid]}}
"#,
            path.display()
        )
    };
    let file = dir.join("taskgate.yaml");
    std::fs::write(&file, config(&dir.join("a-file").join("outputs"))).unwrap();
    let out = taskgate()
        .arg("check")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("outputs.storage.path: ") && stderr.contains("is a file"),
        "{stderr}"
    );
    // A directory still to be made under a writable one is fine.
    std::fs::write(&file, config(&dir.join("new").join("outputs"))).unwrap();
    let out = taskgate()
        .arg("check")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("new").exists(), "check made the directory");
    let _ = std::fs::remove_dir_all(&dir);
}
