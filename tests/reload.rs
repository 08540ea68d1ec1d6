//! Live config reload: a valid file replaces the running config (new keys work at once),
//! an invalid one is reported and changes nothing, SIGHUP is a reload request (not a
//! death), and what must survive a reload (rate budgets, provider clients) does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{temp_dir, write_atomically, Gateway as Process};
use common::*;
use serde_json::Value;
use taskgate::reload::{ReloadOutcome, Reloader};
use taskgate_config::{format_key_hash, hash_key};
use taskgate_sim::SimServer;

const KEY_C: &str = "tg_test_tenant_gamma_0123456789abcdef";

/// The config text as a file holds it: placeholders filled in.
fn render(template: &str, sim_url: &str) -> String {
    template
        .replace("${STORE}", "{kind: memory}")
        .replace("${SIM}", sim_url)
        .replace("${KEY_A_HASH}", &format_key_hash(&hash_key(KEY_A)))
        .replace("${KEY_B_HASH}", &format_key_hash(&hash_key(KEY_B)))
}

/// `text` plus a tenant `gamma` holding KEY_C.
fn with_gamma(text: &str) -> String {
    format!(
        "{text}  gamma:\n    keys: [\"{}\"]\n    routes:\n      text_to_video: [makevid]\n",
        format_key_hash(&hash_key(KEY_C))
    )
}

async fn config_version(http: &reqwest::Client, admin: &str) -> String {
    let ready: Value = http
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["config_version"].as_str().unwrap().to_string()
}

async fn status(http: &reqwest::Client, base: &str, key: &str) -> u16 {
    http.get(format!("{base}/v1/providers"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_binary_applies_a_changed_file_ignores_an_invalid_one_and_survives_sighup() {
    let sim = SimServer::start().await.unwrap();
    let dir = temp_dir("reload");
    let path = dir.join("taskgate.yaml");
    let original = render(CONFIG, &sim.base_url());
    write_atomically(&path, &original);
    let gateway = Process::start(&path, &[], "info").await;
    let http = reqwest::Client::new();
    let v1 = config_version(&http, &gateway.admin).await;
    assert_eq!(status(&http, &gateway.base, KEY_C).await, 401);

    // A new tenant: its key works as soon as the file is seen (polled every second).
    write_atomically(&path, &with_gamma(&original));
    let started = Instant::now();
    let v2 = loop {
        let v = config_version(&http, &gateway.admin).await;
        if v != v1 {
            break v;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let applied_after = started.elapsed();
    assert_eq!(status(&http, &gateway.base, KEY_C).await, 200);
    assert_eq!(status(&http, &gateway.base, KEY_A).await, 200);

    // An invalid file: every problem logged, nothing changes.
    let broken = with_gamma(&original)
        .replace("text_to_video: [makevid]\n", "text_to_video: [makevd]\n")
        .replace("  refresh_after: 150ms", "  refresh_after: soon");
    write_atomically(&path, &broken);
    let rejected = gateway
        .wait_for_log(Duration::from_secs(5), |v| {
            v["message"] == "config reload rejected; keeping the running config"
        })
        .await
        .unwrap_or_else(|| panic!("no rejection logged:\n{}", gateway.stderr()));
    assert!(rejected["problems"].as_u64().unwrap() >= 2, "{rejected}");
    let problems: Vec<String> = gateway
        .log()
        .iter()
        .filter(|v| v["message"] == "config reload: problem")
        .map(|v| v["problem"].as_str().unwrap().to_string())
        .collect();
    assert!(
        problems.iter().any(|p| p.contains("makevd")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("refresh_after")),
        "{problems:?}"
    );
    assert_eq!(config_version(&http, &gateway.admin).await, v2);
    assert_eq!(status(&http, &gateway.base, KEY_A).await, 200);
    assert_eq!(status(&http, &gateway.base, KEY_C).await, 200);

    // SIGHUP asks for a reload; it does not stop the gateway.
    gateway.signal("HUP");
    gateway
        .wait_for_log(Duration::from_secs(5), |v| v["trigger"] == "sighup")
        .await
        .unwrap_or_else(|| panic!("SIGHUP not handled:\n{}", gateway.stderr()));
    assert_eq!(status(&http, &gateway.base, KEY_A).await, 200);

    // Back to a valid file: applied again.
    write_atomically(&path, &original);
    let started = Instant::now();
    while config_version(&http, &gateway.admin).await == v2 {
        assert!(started.elapsed() < Duration::from_secs(5), "never reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&http, &gateway.base, KEY_C).await, 401);
    eprintln!("reload applied {applied_after:?} after the file changed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// acme with a tenant rate limit of three requests a minute.
fn limited(template: &str, per_minute: u32) -> String {
    template.replace(
        "  acme:\n    keys: [\"${KEY_A_HASH}\"]\n",
        &format!(
            "  acme:\n    keys: [\"${{KEY_A_HASH}}\"]\n    rate_limit: {{per_minute: {per_minute}, burst: 3}}\n"
        ),
    )
}

#[tokio::test]
async fn budgets_and_unchanged_provider_clients_survive_a_reload() {
    let template = limited(CONFIG, 3);
    let h = Harness::start_with(&template, "{kind: memory}").await;
    let dir = temp_dir("reload-state");
    let path = dir.join("taskgate.yaml");
    let text = render(&template, &h.sim.base_url());
    write_atomically(&path, &text);
    let state = h.gateway.state.clone();
    let mut reloader = Reloader::new(path.clone(), state.clone());
    assert_eq!(reloader.reload_if_changed(), ReloadOutcome::Unchanged);

    for _ in 0..3 {
        assert_eq!(h.get(KEY_A, "/v1/providers").await.status(), 200);
    }
    assert_eq!(h.get(KEY_A, "/v1/providers").await.status(), 429);
    let before = state.runtime.load_full();

    // Another tenant changes, a provider's timeout changes, the listener "moves".
    let changed = with_gamma(&text)
        .replace(
            "api_key: provider-key-runway, timeout: 2s",
            "api_key: provider-key-runway, timeout: 3s",
        )
        .replace("  listen: 127.0.0.1:0", "  listen: 127.0.0.1:1");
    write_atomically(&path, &changed);
    let ReloadOutcome::Applied { version } = reloader.reload_if_changed() else {
        panic!("not applied");
    };
    let after = state.runtime.load_full();
    assert_eq!(after.config.version, version);
    assert_ne!(after.config.version, before.config.version);
    assert!(after.tenant("gamma").is_some());
    assert_eq!(
        after.config.server.listen, before.config.server.listen,
        "listeners change only on restart"
    );
    assert!(Arc::ptr_eq(
        &before.providers["makevid"],
        &after.providers["makevid"]
    ));
    assert!(!Arc::ptr_eq(
        &before.providers["runway"],
        &after.providers["runway"]
    ));
    // The tenant's limit is the same, so its spent budget is too.
    expect_error(h.get(KEY_A, "/v1/providers").await, 429, "rate_limited").await;

    // Invalid: nothing changes.
    write_atomically(&path, &changed.replace("[makevid]", "[no-such-provider]"));
    assert_eq!(reloader.reload_if_changed(), ReloadOutcome::Rejected);
    assert_eq!(reloader.reload_if_changed(), ReloadOutcome::Unchanged);
    assert_eq!(state.runtime.load().config.version, version);

    // A new limit is a fresh budget.
    write_atomically(
        &path,
        &with_gamma(&render(&limited(CONFIG, 600), &h.sim.base_url())),
    );
    assert!(matches!(
        reloader.reload_if_changed(),
        ReloadOutcome::Applied { .. }
    ));
    assert_eq!(h.get(KEY_A, "/v1/providers").await.status(), 200);
    let _ = std::fs::remove_dir_all(&dir);
}
