//! Which of a task's providers can run it under the running config. Some dialects create a
//! type only with a callback URL, which the gateway has only with `server.public_url`;
//! `taskgate check` refuses routes that break this, but a pinned provider, or a task queued
//! before a reload, can still meet it: such a provider is passed over for the next one.

use std::fmt;

use taskgate_core::providers::CannotRun;
use taskgate_core::TaskType;

use crate::runtime::Runtime;

/// Whether `provider` can run `task_type` under `runtime`'s config; `None` when it is not
/// configured there.
pub fn can_run(
    runtime: &Runtime,
    provider: &str,
    task_type: TaskType,
) -> Option<Result<(), CannotRun>> {
    let callback_url = runtime.config.server.public_url.is_some();
    runtime
        .provider(provider)
        .map(|p| p.kind().can_run(task_type, callback_url))
}

/// `candidates` without the providers that cannot run `task_type` under `runtime`, in order.
/// One that is not configured is kept: the dispatch passes over it, as over any provider a
/// reload removed. Refused when none is left.
pub fn runnable(
    runtime: &Runtime,
    task_type: TaskType,
    candidates: &[String],
) -> Result<Vec<String>, NoRunnableProvider> {
    let mut refused = Vec::new();
    let mut kept = Vec::with_capacity(candidates.len());
    for name in candidates {
        match can_run(runtime, name, task_type) {
            Some(Err(why)) => refused.push((name.clone(), why)),
            Some(Ok(())) | None => kept.push(name.clone()),
        }
    }
    if kept.is_empty() {
        return Err(NoRunnableProvider { task_type, refused });
    }
    Ok(kept)
}

/// No provider of a task's list can run it: each one's reason. Its message names what is
/// missing (`server.public_url`), for the client's `422 unsupported_task_type` or the task's
/// error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRunnableProvider {
    pub task_type: TaskType,
    /// Provider name and why it cannot run the type, in the list's order.
    pub refused: Vec<(String, CannotRun)>,
}

impl fmt::Display for NoRunnableProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.refused.is_empty() {
            return write!(f, "no configured provider can run {}", self.task_type);
        }
        for (i, (name, why)) in self.refused.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&why.describe(&format!("provider '{name}'"), self.task_type))?;
        }
        Ok(())
    }
}

impl std::error::Error for NoRunnableProvider {}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
server: {public_url: "https://taskgate.example.com"}
providers:
  comet-compat: {type: cometapi_compat, base_url: "https://api.cometapi.com", api_key: k1}
  runway: {type: runway, base_url: "https://api.dev.runwayml.com", api_key: k2}
tenants:
  acme:
    keys: ["sha256:211cc0e88d2c07c65863c75c7fb9d389c0e5bd27bb2c7582af73582eedbfea90"]
    routes: {character_performance: [comet-compat, runway], text_to_video: [comet-compat]}
"#;

    /// The test config, with or without its `server.public_url` (as after a reload that
    /// dropped it: `taskgate check` refuses such a file, the dispatch must not rely on it).
    fn runtime(public_url: bool) -> Runtime {
        let mut config = taskgate_config::from_yaml(CONFIG, &|_| None)
            .unwrap_or_else(|e| panic!("test config: {e}"));
        if !public_url {
            config.server.public_url = None;
        }
        Runtime::build(config, None).unwrap_or_else(|e| panic!("{e}"))
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn with_public_url_every_provider_that_runs_the_type_stays() {
        let runtime = runtime(true);
        let list = names(&["comet-compat", "runway"]);
        assert_eq!(
            runnable(&runtime, TaskType::CharacterPerformance, &list),
            Ok(list.clone())
        );
    }

    #[test]
    fn without_public_url_a_provider_that_needs_a_callback_is_passed_over() {
        let runtime = runtime(false);
        let list = names(&["comet-compat", "runway"]);
        assert_eq!(
            runnable(&runtime, TaskType::CharacterPerformance, &list),
            Ok(names(&["runway"]))
        );
        // Only that type needs the callback.
        assert_eq!(
            runnable(&runtime, TaskType::TextToVideo, &names(&["comet-compat"])),
            Ok(names(&["comet-compat"]))
        );
    }

    #[test]
    fn none_left_names_the_missing_setting() {
        let runtime = runtime(false);
        let refused = runnable(
            &runtime,
            TaskType::CharacterPerformance,
            &names(&["comet-compat"]),
        )
        .unwrap_err();
        assert_eq!(
            refused.refused,
            [("comet-compat".to_string(), CannotRun::NeedsCallbackUrl)]
        );
        assert_eq!(
            refused.to_string(),
            "provider 'comet-compat' cannot run character_performance without \
             server.public_url (it needs a callback URL to create this type)"
        );
    }

    #[test]
    fn a_provider_that_does_not_offer_the_type_is_passed_over_too() {
        let runtime = runtime(true);
        let refused = runnable(&runtime, TaskType::Upscale, &names(&["comet-compat"])).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "provider 'comet-compat' cannot run upscale"
        );
    }

    #[test]
    fn an_unconfigured_provider_is_kept_for_the_dispatch_to_pass_over() {
        let runtime = runtime(false);
        let list = names(&["gone", "comet-compat"]);
        assert_eq!(
            runnable(&runtime, TaskType::CharacterPerformance, &list),
            Ok(names(&["gone"]))
        );
        assert_eq!(
            can_run(&runtime, "gone", TaskType::CharacterPerformance),
            None
        );
    }
}
