//! Every adapter driven through `Provider` over loopback against the simulator: whole task
//! lives for each task type, a failure, Runway's cancel, and each class of upstream fault.
// Helpers outside #[test] fns may unwrap too: a panic here is a failed test (clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use taskgate_core::{
    AdapterSettings, CreateError, CreateOptions, FailureClass, Output, OutputKind, Progress,
    Provider, ProviderKind, ProviderSettings, Secret, Snapshot, Task, TaskError, TaskInput,
    TaskStatus, TaskType, UpstreamError,
};
use taskgate_sim::{
    FaultKind, FaultRule, Op, Outcome, Provider as SimProvider, Script, SimConfig, SimServer,
    SimState,
};
use tokio::time::{sleep, Instant};

const KEY: &str = "sk-test";
const VERSION: &str = "2024-11-06";
const CALLBACK: &str = "https://gw.example.com/callbacks/p1";
const POLL_EVERY: Duration = Duration::from_millis(10);
const PATIENCE: Duration = Duration::from_secs(5);

/// Phase lengths of a quick task: visible after 1 s, queued 1 s, running 1 s. A life
/// polls each phase every 10 ms; a second leaves room for a loaded machine's pauses.
fn quick() -> Value {
    json!({"not_visible_ms": 1000, "queued_ms": 1000, "run_ms": 1000})
}

fn with(mut base: Value, more: Value) -> Value {
    if let (Some(b), Value::Object(m)) = (base.as_object_mut(), more) {
        b.extend(m);
    }
    base
}

fn sim_name(kind: ProviderKind) -> &'static str {
    let p = match kind {
        ProviderKind::CometapiCompat => SimProvider::CometCompat,
        ProviderKind::CometapiOfficial => SimProvider::CometOfficial,
        ProviderKind::Runway => SimProvider::Runway,
        ProviderKind::Makevid => SimProvider::Makevid,
    };
    p.as_str()
}

fn sim_provider(kind: ProviderKind) -> SimProvider {
    SimProvider::parse(sim_name(kind)).unwrap_or(SimProvider::Runway)
}

fn is_comet(kind: ProviderKind) -> bool {
    matches!(
        kind,
        ProviderKind::CometapiCompat | ProviderKind::CometapiOfficial
    )
}

fn provider_at(base_url: &str, kind: ProviderKind, key: &str, timeout: Duration) -> Provider {
    // Compat sends the optional version header only when configured; configure it here.
    let runway_version = (kind == ProviderKind::CometapiCompat).then(|| VERSION.to_string());
    Provider::new(ProviderSettings {
        name: format!("{}-test", kind.as_str()),
        kind,
        base_url: url::Url::parse(base_url).unwrap(),
        api_key: Secret::new(key),
        timeout,
        adapter: AdapterSettings { runway_version },
    })
    .unwrap()
}

fn provider(sim: &SimServer, kind: ProviderKind) -> Provider {
    provider_at(&sim.base_url(), kind, KEY, Duration::from_secs(5))
}

async fn start() -> SimServer {
    let sim = SimServer::start().await.unwrap();
    sim.set_scenario(Script::timed(150, 200, 300));
    sim
}

/// The smallest valid input of each type, with `sim` as the simulator's per-task script.
fn input(task_type: TaskType, sim: Value) -> TaskInput {
    input_with(task_type, json!({ "sim": sim }))
}

fn input_with(task_type: TaskType, extra: Value) -> TaskInput {
    let mut value = match task_type {
        TaskType::TextToVideo => json!({"prompt": "a fox in snow"}),
        TaskType::ImageToVideo => json!({"image_url": "https://a.example/i.png"}),
        TaskType::VideoToVideo => {
            json!({"video_url": "https://a.example/v.mp4", "prompt": "anime"})
        }
        TaskType::CharacterPerformance => json!({
            "character_url": "https://a.example/c.png",
            "reference_video_url": "https://a.example/r.mp4"
        }),
        TaskType::TextToImage => json!({"prompt": "a cat"}),
        TaskType::Upscale => json!({"video_url": "https://a.example/v.mp4"}),
    };
    value["extra"] = extra;
    TaskInput::parse(task_type, &value).unwrap()
}

fn options() -> CreateOptions {
    CreateOptions {
        callback_url: Some(CALLBACK.into()),
    }
}

async fn create(provider: &Provider, input: &TaskInput) -> Result<String, UpstreamError> {
    match provider.create(input, &options(), None).await {
        Ok(id) => Ok(id),
        Err(CreateError::Upstream(e)) => Err(e),
        Err(CreateError::Unsupported(e)) => panic!("input not supported: {e}"),
    }
}

fn creates(sim: &SimState, kind: ProviderKind) -> u64 {
    sim.stats()
        .creates
        .get(sim_name(kind))
        .copied()
        .unwrap_or(0)
}

fn output_url(base: &str, id: &str, task_type: TaskType) -> String {
    let ext = match task_type {
        TaskType::TextToImage => "png",
        _ => "mp4",
    };
    format!("{base}/_sim/out/{id}.{ext}")
}

/// Polls one task, applies each answer to a normalized task and checks, answer by answer,
/// that nothing moves backwards.
struct Watch<'a> {
    provider: &'a Provider,
    id: String,
    task_type: TaskType,
    task: Task,
    last_rank: u8,
    last_progress: f64,
    polls: u64,
}

fn rank(status: TaskStatus) -> u8 {
    match status {
        TaskStatus::Queued => 0,
        TaskStatus::Running => 1,
        _ => 2,
    }
}

impl<'a> Watch<'a> {
    fn new(provider: &'a Provider, id: &str, task_type: TaskType) -> Watch<'a> {
        Watch {
            provider,
            id: id.to_string(),
            task_type,
            task: Task::accepted(
                "task_test".into(),
                task_type,
                provider.name().into(),
                id.into(),
                Default::default(),
                Utc::now(),
            ),
            last_rank: 0,
            last_progress: 0.0,
            polls: 0,
        }
    }

    async fn poll(&mut self) -> Result<Snapshot, UpstreamError> {
        self.polls += 1;
        let snap = self.provider.poll(&self.id, self.task_type, None).await?;
        if let Some(status) = snap.status {
            assert!(rank(status) >= self.last_rank, "status went back: {snap:?}");
            self.last_rank = rank(status);
        }
        if let Some(p) = snap.progress {
            assert!((0.0..=1.0).contains(&p.value()));
            assert!(
                p.value() >= self.last_progress,
                "progress went back: {snap:?}"
            );
            self.last_progress = p.value();
        }
        self.task.apply(&snap, Utc::now());
        Ok(snap)
    }

    /// Polls until a snapshot satisfies `wanted`; "not visible yet" is allowed only until
    /// the task was seen once.
    async fn until(&mut self, what: &str, wanted: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.poll().await {
                Ok(snap) if wanted(&snap) => return snap,
                Ok(snap) => assert!(
                    !self.task.is_terminal(),
                    "{what}: ended before, at {snap:?}"
                ),
                Err(e) if e.class == FailureClass::NotVisibleYet && self.last_seen_never() => {}
                Err(e) => panic!("{what}: {e:?}"),
            }
            assert!(Instant::now() < deadline, "{what}: not reached in time");
            sleep(POLL_EVERY).await;
        }
    }

    fn last_seen_never(&self) -> bool {
        self.task.provider_status.is_none()
    }
}

fn progress_value(snap: &Snapshot) -> Option<f64> {
    snap.progress.map(Progress::value)
}

fn is_queued(s: &Snapshot) -> bool {
    s.status == Some(TaskStatus::Queued)
}

fn is_running_with_progress(s: &Snapshot) -> bool {
    s.status == Some(TaskStatus::Running) && progress_value(s).is_some_and(|p| p > 0.0)
}

fn is_terminal(s: &Snapshot) -> bool {
    s.status.is_some_and(TaskStatus::is_terminal)
}

/// What each dialect's answers look like in each phase, normalized.
struct Expect {
    queued_words: &'static [&'static str],
    queued_progress: Option<f64>,
    running_word: &'static str,
    done_word: &'static str,
    failed_word: &'static str,
    done_progress: Option<f64>,
    failed_progress: Option<f64>,
    /// Whether start and finish times are reported (CometAPI), only finish (makevid), or none.
    times: (bool, bool),
}

fn expect(kind: ProviderKind) -> Expect {
    match kind {
        ProviderKind::CometapiCompat | ProviderKind::CometapiOfficial => Expect {
            queued_words: &["SUBMITTED", "QUEUED"],
            queued_progress: Some(0.0),
            running_word: "IN_PROGRESS",
            done_word: "SUCCESS",
            failed_word: "FAILURE",
            done_progress: Some(1.0),
            failed_progress: Some(1.0),
            times: (true, true),
        },
        ProviderKind::Runway => Expect {
            queued_words: &["PENDING"],
            queued_progress: None,
            running_word: "RUNNING",
            done_word: "SUCCEEDED",
            failed_word: "FAILED",
            done_progress: None,
            failed_progress: None,
            times: (false, false),
        },
        ProviderKind::Makevid => Expect {
            queued_words: &["PENDING"],
            queued_progress: None,
            running_word: "RUNNING",
            done_word: "SUCCEEDED",
            failed_word: "FAILED",
            done_progress: Some(1.0),
            failed_progress: None,
            times: (false, true),
        },
    }
}

fn expected_outputs(base: &str, kind: ProviderKind, id: &str, task_type: TaskType) -> Vec<Output> {
    let url = output_url(base, id, task_type);
    match kind {
        ProviderKind::Makevid => vec![Output {
            preview_urls: vec![
                format!("{base}/_sim/out/{id}/1.jpg"),
                format!("{base}/_sim/out/{id}/2.jpg"),
            ],
            width: Some(1280),
            height: Some(768),
            duration_s: Some(5.042),
            fps: Some(24.0),
            size_bytes: Some(65_536),
            ..Output::new(url, OutputKind::Video)
        }],
        _ => vec![Output::new(url, task_type.output_kind())],
    }
}

fn check_times(kind: ProviderKind, snap: &Snapshot) {
    let (start, finish) = expect(kind).times;
    assert_eq!(snap.started_at.is_some(), start, "{kind:?} {snap:?}");
    assert_eq!(snap.finished_at.is_some(), finish, "{kind:?} {snap:?}");
    let now = Utc::now();
    for t in [snap.started_at, snap.finished_at].into_iter().flatten() {
        assert!((now - t).num_seconds().abs() < 60, "{kind:?} odd time {t}");
    }
    if let (Some(s), Some(f)) = (snap.started_at, snap.finished_at) {
        assert!(s <= f);
    }
}

/// One whole life: create, not visible yet (CometAPI), queued, running, succeeded.
async fn succeeding_life(sim: SimState, provider: Arc<Provider>, task_type: TaskType) {
    let kind = provider.kind();
    let e = expect(kind);
    let id = create(&provider, &input(task_type, quick())).await.unwrap();
    let record = sim.task(&id).unwrap();
    assert_eq!(record.provider, sim_name(kind));
    assert_eq!(record.header("authorization"), Some("Bearer sk-test"));
    let version = (kind != ProviderKind::Makevid).then_some(VERSION);
    assert_eq!(record.header("x-runway-version"), version, "{kind:?}");
    assert!(
        record.body.get("sim").is_none(),
        "the simulator strips its script"
    );

    let mut watch = Watch::new(&provider, &id, task_type);
    if is_comet(kind) {
        let err = watch.poll().await.unwrap_err();
        assert_eq!(
            err.class,
            FailureClass::NotVisibleYet,
            "{kind:?} {task_type}"
        );
        assert_eq!(err.http_status, Some(400));
    }

    let queued = watch.until("queued", is_queued).await;
    assert!(
        e.queued_words.contains(&queued.provider_status.as_str()),
        "{queued:?}"
    );
    assert_eq!(
        queued,
        Snapshot {
            status: Some(TaskStatus::Queued),
            provider_status: queued.provider_status.clone(),
            progress: e.queued_progress.and_then(Progress::new),
            ..Snapshot::default()
        },
        "{kind:?} {task_type}"
    );
    assert_eq!(watch.task.status, TaskStatus::Queued);

    let running = watch.until("running", is_running_with_progress).await;
    let p = progress_value(&running).unwrap_or_default();
    assert!(p > 0.0 && p < 1.0, "{kind:?} running at {p}");
    assert_eq!(running.provider_status, e.running_word);
    assert!(running.outputs.is_empty() && running.error.is_none());
    assert_eq!(running.finished_at, None);
    assert_eq!(watch.task.status, TaskStatus::Running);
    assert!(watch.task.started_at.is_some());

    let done = watch.until("terminal", is_terminal).await;
    check_times(kind, &done);
    assert_eq!(
        done,
        Snapshot {
            status: Some(TaskStatus::Succeeded),
            provider_status: e.done_word.into(),
            progress: e.done_progress.and_then(Progress::new),
            outputs: expected_outputs(sim.base_url().unwrap_or_default(), kind, &id, task_type),
            error: None,
            started_at: done.started_at,
            finished_at: done.finished_at,
        },
        "{kind:?} {task_type}"
    );
    assert_eq!(watch.task.status, TaskStatus::Succeeded);
    assert_eq!(watch.task.progress, Some(Progress::DONE));
    assert_eq!(watch.task.outputs, done.outputs);

    let record = sim.task(&id).unwrap();
    assert_eq!(
        record.polls, watch.polls,
        "{kind:?} every poll reached the simulator"
    );
    assert_eq!(record.cancels, 0);
}

/// Runs a succeeding life for every task type `kind` supports, all at once, and checks
/// that the simulator saw exactly one create per task.
async fn every_type_succeeds(kind: ProviderKind) {
    let sim = start().await;
    let provider = Arc::new(provider(&sim, kind));
    let types = kind.capabilities().task_types;
    let mut lives = tokio::task::JoinSet::new();
    for task_type in types.clone() {
        lives.spawn(succeeding_life(
            sim.state().clone(),
            Arc::clone(&provider),
            task_type,
        ));
    }
    while let Some(result) = lives.join_next().await {
        if let Err(e) = result {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    let n = u64::try_from(types.len()).unwrap();
    assert_eq!(creates(sim.state(), kind), n, "one create per task");
    assert_eq!(sim.stats().creates_total(), n);
    assert_eq!(sim.stats().rejected_total(), 0);
}

// --- whole lives -----------------------------------------------------------------------------

#[tokio::test]
async fn compat_every_task_type_lives_from_not_visible_to_succeeded() {
    every_type_succeeds(ProviderKind::CometapiCompat).await;
}

#[tokio::test]
async fn official_every_task_type_lives_from_not_visible_to_succeeded() {
    every_type_succeeds(ProviderKind::CometapiOfficial).await;
}

#[tokio::test]
async fn runway_every_task_type_lives_from_pending_to_succeeded() {
    every_type_succeeds(ProviderKind::Runway).await;
}

#[tokio::test]
async fn makevid_every_task_type_lives_from_pending_to_succeeded() {
    every_type_succeeds(ProviderKind::Makevid).await;
}

#[tokio::test]
async fn every_provider_failure_life_ends_failed_with_code_and_message() {
    let sim = start().await;
    let script = with(
        json!({"not_visible_ms": 0, "queued_ms": 50, "run_ms": 100}),
        json!({"outcome": "fail", "failure_code": "SAFETY.INPUT.IMAGE",
               "failure_message": "The image was flagged."}),
    );
    for kind in ProviderKind::ALL {
        let provider = provider(&sim, kind);
        let e = expect(kind);
        let id = create(&provider, &input(TaskType::ImageToVideo, script.clone()))
            .await
            .unwrap();
        let mut watch = Watch::new(&provider, &id, TaskType::ImageToVideo);
        let failed = watch.until("failed", is_terminal).await;
        let code = match kind {
            ProviderKind::Makevid => TaskError::PROVIDER_FAILED,
            _ => "SAFETY.INPUT.IMAGE",
        };
        check_times(kind, &failed);
        assert_eq!(
            failed,
            Snapshot {
                status: Some(TaskStatus::Failed),
                provider_status: e.failed_word.into(),
                progress: e.failed_progress.and_then(Progress::new),
                outputs: vec![],
                error: Some(TaskError::new(code, "The image was flagged.")),
                started_at: failed.started_at,
                finished_at: failed.finished_at,
            },
            "{kind:?}"
        );
        assert_eq!(watch.task.status, TaskStatus::Failed);
        assert_eq!(watch.task.error, failed.error);
        assert!(watch.task.finished_at.is_some());
    }
    assert_eq!(sim.stats().creates_total(), 4);
}

#[tokio::test]
async fn runway_cancel_sends_delete_and_the_task_ends_canceled() {
    let sim = start().await;
    let provider = provider(&sim, ProviderKind::Runway);
    let long = json!({"queued_ms": 50, "run_ms": 5_000});
    let id = create(&provider, &input(TaskType::ImageToVideo, long))
        .await
        .unwrap();
    let mut watch = Watch::new(&provider, &id, TaskType::ImageToVideo);
    watch.until("running", is_running_with_progress).await;
    provider.cancel(&id, None).await.unwrap();
    let record = sim.task(&id).unwrap();
    assert_eq!(record.cancels, 1);
    assert_eq!(sim.stats().cancels.get("runway"), Some(&1));
    let canceled = watch.poll().await.unwrap();
    assert_eq!(canceled.status, Some(TaskStatus::Canceled));
    assert_eq!(canceled.provider_status, "CANCELLED");
    assert!(canceled.outputs.is_empty());
    assert_eq!(watch.task.status, TaskStatus::Canceled);
    assert!(watch.task.finished_at.is_some());
}

#[tokio::test]
async fn runway_cancel_of_unknown_task_is_a_final_no_effect() {
    let sim = start().await;
    let provider = provider(&sim, ProviderKind::Runway);
    let err = provider
        .cancel("00000000-0000-0000-0000-000000000000", None)
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::NoEffect);
    assert_eq!(err.http_status, Some(404));
    assert!(!err.transient);
}

#[tokio::test]
async fn providers_without_cancel_send_nothing() {
    let sim = start().await;
    for kind in [
        ProviderKind::CometapiCompat,
        ProviderKind::CometapiOfficial,
        ProviderKind::Makevid,
    ] {
        let provider = provider(&sim, kind);
        let id = create(&provider, &input(TaskType::ImageToVideo, quick()))
            .await
            .unwrap();
        let err = provider.cancel(&id, None).await.unwrap_err();
        assert_eq!(err.class, FailureClass::NoEffect, "{kind:?}");
        assert_eq!(sim.task(&id).unwrap().cancels, 0);
    }
    assert_eq!(sim.stats().cancels_total(), 0);
}

// --- what reaches the simulator --------------------------------------------------------------

#[tokio::test]
async fn simulator_receives_exactly_the_body_the_adapter_built() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let provider = provider(&sim, kind);
        let extra = json!({"sim": quick(), "seed_hint": 3});
        let task_input = input_with(TaskType::ImageToVideo, extra);
        let id = create(&provider, &task_input).await.unwrap();
        let adapter = taskgate_core::adapter_for(
            kind,
            &AdapterSettings {
                runway_version: Some(VERSION.into()),
            },
        );
        let mut expected = adapter
            .create_request(&task_input, &options())
            .unwrap()
            .body
            .unwrap();
        if let Some(map) = expected.as_object_mut() {
            map.remove("sim");
        }
        assert_eq!(sim.task(&id).unwrap().body, expected, "{kind:?}");
    }
}

#[tokio::test]
async fn compat_without_configured_version_sends_no_version_header() {
    let sim = start().await;
    let provider = Provider::new(ProviderSettings {
        name: "compat".into(),
        kind: ProviderKind::CometapiCompat,
        base_url: url::Url::parse(&sim.base_url()).unwrap(),
        api_key: Secret::new(KEY),
        timeout: Duration::from_secs(5),
        adapter: AdapterSettings::default(),
    })
    .unwrap();
    let id = create(&provider, &input(TaskType::TextToVideo, quick()))
        .await
        .unwrap();
    let record = sim.task(&id).unwrap();
    assert_eq!(record.header("x-runway-version"), None);
    assert_eq!(record.header("authorization"), Some("Bearer sk-test"));
}

#[tokio::test]
async fn makevid_sends_no_version_header() {
    let sim = start().await;
    let provider = provider(&sim, ProviderKind::Makevid);
    let id = create(&provider, &input(TaskType::TextToVideo, quick()))
        .await
        .unwrap();
    assert_eq!(sim.task(&id).unwrap().header("x-runway-version"), None);
}

#[tokio::test]
async fn tenant_key_replaces_the_provider_key() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let provider = provider(&sim, kind);
        let tenant = Secret::new("sk-tenant-7");
        let id = provider
            .create(
                &input(TaskType::ImageToVideo, quick()),
                &options(),
                Some(&tenant),
            )
            .await
            .unwrap();
        let record = sim.task(&id).unwrap();
        assert_eq!(record.header("authorization"), Some("Bearer sk-tenant-7"));
    }
}

// --- dialect variations --------------------------------------------------------------------

#[tokio::test]
async fn comet_bare_shape_and_every_output_field_are_read() {
    let sim = start().await;
    let rows = [
        (ProviderKind::CometapiCompat, "wrapped", "video_url", false),
        (ProviderKind::CometapiCompat, "bare", "result_url", false),
        (ProviderKind::CometapiCompat, "bare", "nested", true),
        (ProviderKind::CometapiCompat, "wrapped", "nested", true),
        (ProviderKind::CometapiOfficial, "bare", "result_url", false),
        (
            ProviderKind::CometapiOfficial,
            "wrapped",
            "video_url",
            false,
        ),
        (ProviderKind::CometapiOfficial, "wrapped", "nested", true),
    ];
    let fast = json!({"not_visible_ms": 0, "queued_ms": 20, "run_ms": 40});
    for (kind, shape, field, poster) in rows {
        let provider = provider(&sim, kind);
        let script = with(fast.clone(), json!({"shape": shape, "output_field": field}));
        let id = create(&provider, &input(TaskType::ImageToVideo, script))
            .await
            .unwrap();
        let mut watch = Watch::new(&provider, &id, TaskType::ImageToVideo);
        let done = watch.until("succeeded", is_terminal).await;
        let mut output = Output::new(
            output_url(&sim.base_url(), &id, TaskType::ImageToVideo),
            OutputKind::Video,
        );
        if poster {
            output.preview_urls = vec![format!("{}/_sim/out/{id}/1.jpg", sim.base_url())];
        }
        assert_eq!(
            done.status,
            Some(TaskStatus::Succeeded),
            "{kind:?} {shape} {field}"
        );
        assert_eq!(done.outputs, vec![output], "{kind:?} {shape} {field}");
    }
}

#[tokio::test]
async fn runway_and_official_throttled_tasks_are_queued() {
    let sim = start().await;
    for (kind, shape) in [
        (ProviderKind::Runway, "wrapped"),
        (ProviderKind::CometapiOfficial, "bare"),
        (ProviderKind::Makevid, "wrapped"),
    ] {
        let provider = provider(&sim, kind);
        let script = json!({"not_visible_ms": 0, "queued_ms": 5_000, "throttled": true,
                            "shape": shape});
        let id = create(&provider, &input(TaskType::ImageToVideo, script))
            .await
            .unwrap();
        let snap = Watch::new(&provider, &id, TaskType::ImageToVideo)
            .poll()
            .await
            .unwrap();
        assert_eq!(snap.status, Some(TaskStatus::Queued), "{kind:?}");
        assert_eq!(snap.provider_status, "THROTTLED", "{kind:?}");
    }
}

#[tokio::test]
async fn compat_create_answer_code_of_any_type_gives_the_id() {
    let sim = start().await;
    let provider = provider(&sim, ProviderKind::CometapiCompat);
    for code in ["int", "string", "success"] {
        let script = with(quick(), json!({ "create_code": code }));
        let id = create(&provider, &input(TaskType::TextToVideo, script))
            .await
            .unwrap();
        assert!(sim.task(&id).is_some(), "{code}");
    }
    assert_eq!(creates(sim.state(), ProviderKind::CometapiCompat), 3);
}

#[tokio::test]
async fn every_progress_form_while_running_is_read_into_the_unit_interval() {
    let sim = start().await;
    let forms = [
        "percent",
        "float",
        "ratio_string",
        "over",
        "negative",
        "null",
    ];
    let mut tasks = Vec::new();
    for kind in ProviderKind::ALL {
        let provider = provider(&sim, kind);
        for form in forms {
            // Running for a while: the polls below all come well before the end.
            let script = json!({"not_visible_ms": 0, "queued_ms": 0, "run_ms": 60_000,
                                "progress_form": form});
            let id = create(&provider, &input(TaskType::ImageToVideo, script))
                .await
                .unwrap();
            tasks.push((kind, form, id));
        }
    }
    // Past 1 % of the run for every task (progress is floored to whole percent).
    sleep(Duration::from_millis(1200)).await;
    for (kind, form, id) in tasks {
        let provider = provider(&sim, kind);
        let snap = provider
            .poll(&id, TaskType::ImageToVideo, None)
            .await
            .unwrap();
        assert_eq!(snap.status, Some(TaskStatus::Running), "{kind:?} {form}");
        let p = progress_value(&snap);
        match form {
            "null" => assert_eq!(p, None, "{kind:?}"),
            "negative" => assert_eq!(p, Some(0.0), "{kind:?}"),
            // "150%" is clamped; a bare 1.5 is read as a percentage by design.
            "over" if is_comet(kind) => assert_eq!(p, Some(1.0), "{kind:?}"),
            "over" => assert!(
                p.is_some_and(|p| (0.0..=1.0).contains(&p)),
                "{kind:?} {p:?}"
            ),
            _ => assert!(
                p.is_some_and(|p| p > 0.0 && p < 1.0),
                "{kind:?} {form}: {p:?}"
            ),
        }
    }
}

#[tokio::test]
async fn unknown_status_word_while_running_keeps_the_last_status() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let provider = provider(&sim, kind);
        // Known first, then a word nobody documented.
        let script = json!({"not_visible_ms": 0, "queued_ms": 0, "run_ms": 60_000});
        let id = create(&provider, &input(TaskType::ImageToVideo, script))
            .await
            .unwrap();
        let mut watch = Watch::new(&provider, &id, TaskType::ImageToVideo);
        watch
            .until("running", |s| s.status == Some(TaskStatus::Running))
            .await;
        sim.push_fault(
            FaultRule::on(
                sim_provider(kind),
                Op::Poll,
                FaultKind::UnknownStatus {
                    word: "WARMING_UP".into(),
                },
            )
            .times(1),
        );
        let snap = watch.poll().await.unwrap();
        assert_eq!(snap.status, None, "{kind:?}");
        assert_eq!(snap.provider_status, "WARMING_UP", "{kind:?}");
        assert_eq!(watch.task.status, TaskStatus::Running, "{kind:?}");
        assert_eq!(watch.task.provider_status.as_deref(), Some("WARMING_UP"));
    }
}

#[tokio::test]
async fn scripted_unknown_status_word_leaves_a_fresh_task_queued_until_it_ends() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let provider = provider(&sim, kind);
        // Runs until the test ends it, after the odd word was seen.
        let script = json!({"not_visible_ms": 0, "queued_ms": 0, "run_ms": 600_000,
                            "status_word": "UNKNOWN"});
        let id = create(&provider, &input(TaskType::ImageToVideo, script))
            .await
            .unwrap();
        let mut watch = Watch::new(&provider, &id, TaskType::ImageToVideo);
        let odd = watch.until("unknown word", |s| s.status.is_none()).await;
        assert_eq!(odd.provider_status, "UNKNOWN", "{kind:?}");
        assert_eq!(watch.task.status, TaskStatus::Queued, "{kind:?}");
        assert!(sim.finish(&id, Outcome::Succeed));
        let done = watch.until("succeeded", is_terminal).await;
        assert_eq!(done.status, Some(TaskStatus::Succeeded), "{kind:?}");
        assert_eq!(watch.task.status, TaskStatus::Succeeded);
    }
}

// --- faults ----------------------------------------------------------------------------------

fn status_fault(code: u16, retry_after_s: Option<u64>, retry_after_ms: Option<u64>) -> FaultKind {
    FaultKind::Status {
        code,
        retry_after_s,
        retry_after_ms,
    }
}

#[tokio::test]
async fn connection_refused_is_transient_no_effect() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    for kind in ProviderKind::ALL {
        let provider = provider_at(&base, kind, KEY, Duration::from_secs(2));
        let err = create(&provider, &input(TaskType::ImageToVideo, quick()))
            .await
            .unwrap_err();
        assert_eq!(err.class, FailureClass::NoEffect, "{kind:?} {err:?}");
        assert!(err.transient && err.is_retryable() && err.certainly_not_created());
        assert!(!err.timed_out);
        assert_eq!(err.http_status, None);
        assert!(!err.message.contains(KEY));
        let err = provider
            .poll("abc", TaskType::ImageToVideo, None)
            .await
            .unwrap_err();
        assert_eq!(err.class, FailureClass::NoEffect, "{kind:?}");
        assert!(err.transient);
    }
}

#[tokio::test]
async fn rate_limit_429_is_transient_no_effect_with_retry_after_and_creates_nothing() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let p = sim_provider(kind);
        sim.push_fault(FaultRule::on(p, Op::Create, status_fault(429, Some(2), None)).times(1));
        let provider = provider(&sim, kind);
        let task_input = input(TaskType::ImageToVideo, quick());
        let err = create(&provider, &task_input).await.unwrap_err();
        assert_eq!(err.class, FailureClass::NoEffect, "{kind:?}");
        assert_eq!(err.http_status, Some(429));
        assert!(err.is_retryable(), "{kind:?}");
        assert_eq!(err.retry_after, Some(Duration::from_secs(2)), "{kind:?}");
        assert_eq!(
            creates(sim.state(), kind),
            0,
            "{kind:?}: a 429 creates nothing"
        );
        // The retry the class allows creates exactly one task.
        create(&provider, &task_input).await.unwrap();
        assert_eq!(creates(sim.state(), kind), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn retry_after_ms_wins_over_retry_after_seconds() {
    let sim = start().await;
    let provider = provider(&sim, ProviderKind::Runway);
    sim.push_fault(
        FaultRule::on(
            SimProvider::Runway,
            Op::Create,
            status_fault(429, Some(2), Some(1500)),
        )
        .times(1),
    );
    let err = create(&provider, &input(TaskType::ImageToVideo, quick()))
        .await
        .unwrap_err();
    assert_eq!(err.retry_after, Some(Duration::from_millis(1500)));
}

#[tokio::test]
async fn server_errors_are_transient_no_effect_on_create_and_poll() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let p = sim_provider(kind);
        let provider = provider(&sim, kind);
        for code in [500, 502, 503, 504] {
            sim.push_fault(FaultRule::on(p, Op::Create, status_fault(code, None, None)).times(1));
            let err = create(&provider, &input(TaskType::ImageToVideo, quick()))
                .await
                .unwrap_err();
            assert_eq!(err.class, FailureClass::NoEffect, "{kind:?} {code}");
            assert!(err.is_retryable(), "{kind:?} {code}");
            assert_eq!(err.http_status, Some(code));
            assert_eq!(err.retry_after, None);
        }
        assert_eq!(creates(sim.state(), kind), 0, "{kind:?}");
        let script = json!({"not_visible_ms": 0, "queued_ms": 1000, "run_ms": 1000});
        let id = create(&provider, &input(TaskType::ImageToVideo, script))
            .await
            .unwrap();
        sim.push_fault(FaultRule::on(p, Op::Poll, status_fault(503, None, None)).times(1));
        let err = provider
            .poll(&id, TaskType::ImageToVideo, None)
            .await
            .unwrap_err();
        assert_eq!(err.class, FailureClass::NoEffect, "{kind:?}");
        assert!(err.is_retryable());
        let snap = provider
            .poll(&id, TaskType::ImageToVideo, None)
            .await
            .unwrap();
        assert_eq!(
            snap.status,
            Some(TaskStatus::Queued),
            "{kind:?} next poll is fine"
        );
    }
}

#[tokio::test]
async fn hang_past_the_timeout_is_outcome_unknown_timed_out() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let p = sim_provider(kind);
        let provider = provider_at(&sim.base_url(), kind, KEY, Duration::from_millis(300));
        sim.push_fault(FaultRule::on(p, Op::Create, FaultKind::Hang).times(1));
        let started = Instant::now();
        let err = create(&provider, &input(TaskType::ImageToVideo, quick()))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(err.class, FailureClass::OutcomeUnknown, "{kind:?} {err:?}");
        assert!(err.timed_out, "{kind:?}");
        assert!(!err.certainly_not_created() && !err.is_retryable());
        // Why it must never be repeated: the simulator did create the task (it may see
        // the request only after the client gave up, on a loaded machine).
        let deadline = Instant::now() + PATIENCE;
        while creates(sim.state(), kind) == 0 {
            assert!(Instant::now() < deadline, "{kind:?}: never created");
            sleep(POLL_EVERY).await;
        }
        assert_eq!(creates(sim.state(), kind), 1, "{kind:?}");

        sim.push_fault(FaultRule::on(p, Op::Poll, FaultKind::Hang).times(1));
        let err = provider
            .poll("abc", TaskType::ImageToVideo, None)
            .await
            .unwrap_err();
        assert_eq!(err.class, FailureClass::OutcomeUnknown, "{kind:?}");
        assert!(err.timed_out);
    }
}

#[tokio::test]
async fn malformed_json_is_a_bad_answer_on_create_and_poll() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let p = sim_provider(kind);
        let provider = provider(&sim, kind);
        sim.push_fault(FaultRule::on(p, Op::Create, FaultKind::MalformedJson).times(1));
        let err = create(&provider, &input(TaskType::ImageToVideo, quick()))
            .await
            .unwrap_err();
        assert_eq!(err.class, FailureClass::BadAnswer, "{kind:?} {err:?}");
        assert_eq!(creates(sim.state(), kind), 0, "{kind:?}");

        let script = json!({"not_visible_ms": 0, "queued_ms": 1000, "run_ms": 1000});
        let id = create(&provider, &input(TaskType::ImageToVideo, script))
            .await
            .unwrap();
        sim.push_fault(FaultRule::on(p, Op::Poll, FaultKind::MalformedJson).times(1));
        let err = provider
            .poll(&id, TaskType::ImageToVideo, None)
            .await
            .unwrap_err();
        assert_eq!(err.class, FailureClass::BadAnswer, "{kind:?}");
    }
}

#[tokio::test]
async fn input_the_provider_refuses_is_rejected_and_creates_nothing() {
    let sim = start().await;
    let rows = [
        (
            ProviderKind::CometapiOfficial,
            TaskType::TextToImage,
            json!({"referenceImages": []}),
            Some("reference_images_empty"),
        ),
        (
            ProviderKind::Runway,
            TaskType::TextToImage,
            json!({"referenceImages": []}),
            None,
        ),
        (
            ProviderKind::CometapiCompat,
            TaskType::TextToVideo,
            json!({"prompt": ""}),
            Some("invalid_request"),
        ),
        (
            ProviderKind::Makevid,
            TaskType::TextToVideo,
            json!({"text_prompt": ""}),
            None,
        ),
    ];
    for (kind, task_type, extra, code) in rows {
        let provider = provider(&sim, kind);
        let extra = with(extra, json!({ "sim": quick() }));
        let err = create(&provider, &input_with(task_type, extra))
            .await
            .unwrap_err();
        assert_eq!(err.class, FailureClass::Rejected, "{kind:?} {err:?}");
        assert_eq!(err.http_status, Some(400), "{kind:?}");
        assert!(!err.certainly_not_created() && !err.is_retryable());
        assert_eq!(err.provider_code.as_deref(), code, "{kind:?}");
        assert!(!err.message.is_empty());
        assert_eq!(creates(sim.state(), kind), 0, "{kind:?}");
    }
    assert_eq!(sim.stats().rejected_total(), 4);
}

#[tokio::test]
async fn wrong_key_is_a_final_no_effect_401() {
    let config = SimConfig {
        accepted_keys: Some(HashSet::from(["sk-good".to_string()])),
        scenario: Script::timed(0, 200, 300),
    };
    let sim = SimServer::start_with(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    for kind in ProviderKind::ALL {
        let provider = provider_at(&sim.base_url(), kind, "sk-wrong", Duration::from_secs(5));
        let task_input = input(TaskType::ImageToVideo, quick());
        let err = create(&provider, &task_input).await.unwrap_err();
        assert_eq!(err.class, FailureClass::NoEffect, "{kind:?}");
        assert_eq!(err.http_status, Some(401), "{kind:?}");
        assert!(!err.transient && !err.is_retryable(), "{kind:?}");
        assert!(err.certainly_not_created());
        assert!(!err.message.contains("sk-wrong"));
        let err = provider
            .poll("abc", TaskType::ImageToVideo, None)
            .await
            .unwrap_err();
        assert_eq!(
            (err.class, err.http_status),
            (FailureClass::NoEffect, Some(401))
        );
        // The tenant's own, valid key gets through the same provider.
        let good = Secret::new("sk-good");
        provider
            .create(&task_input, &options(), Some(&good))
            .await
            .unwrap();
    }
    assert_eq!(sim.stats().creates_total(), 4);
}

#[tokio::test]
async fn unknown_task_id_is_not_visible_yet_for_every_provider() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let provider = provider(&sim, kind);
        let err = provider
            .poll(
                "6f1b5a2e-0000-4000-8000-000000000000",
                TaskType::ImageToVideo,
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err.class, FailureClass::NotVisibleYet, "{kind:?}");
    }
}

#[tokio::test]
async fn latency_under_the_timeout_only_delays_the_answer() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let p = sim_provider(kind);
        let provider = provider(&sim, kind);
        sim.push_fault(FaultRule::on(p, Op::Create, FaultKind::Latency { ms: 100 }).times(1));
        let started = Instant::now();
        let id = create(&provider, &input(TaskType::ImageToVideo, quick()))
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(sim.task(&id).is_some());
    }
}

#[tokio::test]
async fn path_changing_task_ids_are_refused_before_sending() {
    let sim = start().await;
    for kind in ProviderKind::ALL {
        let provider = provider(&sim, kind);
        for id in ["../admin", "a/b", "", "..", "a b", "x?y=1"] {
            let err = provider
                .poll(id, TaskType::ImageToVideo, None)
                .await
                .unwrap_err();
            assert_eq!(err.class, FailureClass::BadAnswer, "{kind:?} {id:?}");
        }
    }
    assert_eq!(sim.stats().polls_total(), 0);
}
