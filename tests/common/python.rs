//! The Python tools some tests drive (OpenAPI validator, schemathesis, a generated client,
//! Runway's SDK): a virtualenv that `.ci/setup` builds from `.ci/requirements.txt`. Tests run
//! its python (`TASKGATE_PYTHON`, else `.ci/venv/bin/python3`) and install nothing; without
//! it a test skips with a notice, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The virtualenv's python, or `None` (with a notice) when it is missing outside CI.
pub fn python_or_skip() -> Option<PathBuf> {
    let python = std::env::var_os("TASKGATE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".ci/venv/bin/python3"));
    if python.is_file() {
        return Some(python);
    }
    let on_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let notice = format!(
        "the Python tools are missing ({} is not a file); run .ci/setup or set TASKGATE_PYTHON",
        python.display()
    );
    if on_ci {
        panic!("{notice} (CI=true, so this fails)");
    }
    eprintln!("notice: {notice}; skipping this test.");
    None
}

/// Runs the virtualenv's python with `args` in `dir`, within `limit`; the output, whatever
/// its exit status.
pub async fn run_python(
    python: &Path,
    args: &[&str],
    dir: &Path,
    env: &[(&str, &str)],
    limit: Duration,
) -> Output {
    let mut command = tokio::process::Command::new(python);
    command
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("python {args:?} did not finish within {limit:?}"))
        .unwrap()
}

pub fn assert_success(what: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}

/// A file of `tests/python`.
pub fn tests_python(file: &str) -> String {
    workspace()
        .join("tests/python")
        .join(file)
        .to_string_lossy()
        .into_owned()
}
