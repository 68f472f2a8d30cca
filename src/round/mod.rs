//! Layer 1, the Round: one agent invocation under hard defenses (spec §6).
//!
//! Order: config → startup battery → lock → round number and phase → context →
//! the goal treadmill (`goal`) → `round_start` → prompt → spawn and bound the
//! agent (`process`) → exit classification → goal checks (`goal`) →
//! network-blip scan → dirty tree (`vcs`) → kill events → status.json →
//! metrics → `round_end` → output parsers (`parsers`, minus `[plugins]
//! disable`).
//! The round never loops; `serve` does.

pub mod battery;
pub mod container;
pub mod digest;
pub mod goal;
mod memory;
pub mod parsers;
pub mod process;
pub mod prompt;
pub mod recognize;
pub mod resume;
pub mod vcs;

use crate::config::{Config, ContextMode, DirtyAction, PromptDelivery};
use crate::fields;
use crate::state::metrics;
use crate::state::status::{OrphanState, Status, StatusRead};
use crate::state::{EventLog, Kind, Layout};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// How a round ended, when it ran to its end.
#[derive(Debug)]
pub enum RoundOutcome {
    /// The agent ran and the round was recorded; how the agent did.
    Completed { verdict: recognize::AgentVerdict },
    /// The startup battery refused the round; nothing was spawned.
    StartupFailed {
        /// The failed checks (each has its how-to-fix).
        failed: Vec<battery::Check>,
    },
}

/// Why a round could not run or be recorded; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error("cannot create log_dir '{}': {source}", path.display())]
    LogDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create '{}': {source}", path.display())]
    RoundsDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Lock(#[from] crate::state::lock::LockError),
    #[error("--phase requires [phases] to be configured in agent-runner.toml")]
    NoPhases,
    #[error("phase '{phase}' not in configured [phases]: {list:?}")]
    UnknownPhase { phase: String, list: Vec<String> },
    #[error("{source} (fix prompt.files in {})", config.display())]
    Prompt {
        source: prompt::PromptError,
        config: PathBuf,
    },
    #[error("{0}")]
    Signals(process::ProcessError),
    #[error("cannot run the agent '{agent}': {source}")]
    Agent {
        agent: String,
        source: process::ProcessError,
    },
    #[error("cannot write '{}': {source}", path.display())]
    Status {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the status.json writer thread failed")]
    StatusThread,
}

impl RoundError {
    /// The failure is in the host's environment (an unwritable log_dir or
    /// state file) and may heal; the others are either the config's fault
    /// ([`RoundError::is_config`]) or plain runtime failures.
    pub fn is_environmental(&self) -> bool {
        matches!(
            self,
            RoundError::LogDir { .. } | RoundError::RoundsDir { .. } | RoundError::Status { .. }
        )
    }
    /// The config is what is wrong (the prompt files it names).
    pub fn is_config(&self) -> bool {
        matches!(self, RoundError::Prompt { .. })
    }
    /// The caller asked for something the config does not have (`--phase`).
    pub fn is_usage(&self) -> bool {
        matches!(self, RoundError::NoPhases | RoundError::UnknownPhase { .. })
    }
}

/// Grace between SIGTERM and SIGKILL on the budget and grace kills.
pub const TERM_GRACE: Duration = process::DEFAULT_TERM_GRACE;
/// At most this many paths in `dirty_detected.files`.
const DIRTY_LIST_MAX: usize = 20;

/// Files the round must never stash or commit away: the scaffold (config,
/// prompt files, `.gitignore`, the demo script) and the log_dir.
pub fn protected_paths(cfg: &Config) -> Vec<PathBuf> {
    let mut v = crate::config::presets::scaffold_paths(cfg);
    v.push(cfg.runtime.log_dir.clone());
    v
}

/// What in a config that loads will not do what it says: `[plugins]
/// disable` names that turn nothing off, goal checks long enough to delay
/// serve's breakers. `round`, `serve` and `doctor` print them.
pub fn config_warnings(cfg: &Config) -> Vec<String> {
    let mut w = parsers::disable_warnings(&cfg.plugins.disable);
    w.extend(cfg.goal.as_ref().and_then(goal::budget_warning));
    w
}

/// Run one round of `cfg` (with `phase_override` instead of the rotation's
/// phase, if given).
pub fn run_round(cfg: &Config, phase_override: Option<&str>) -> Result<RoundOutcome, RoundError> {
    let layout = Layout::new(&cfg.runtime.log_dir);
    crate::state::layout::create_dirs(&layout.log_dir).map_err(|source| RoundError::LogDir {
        path: layout.log_dir.clone(),
        source,
    })?;
    let log = EventLog::new(layout.clone());

    // 1. startup battery
    tracing::debug!(step = "startup battery", "round");
    if !battery::skipped_by_env() {
        let failed: Vec<battery::Check> = battery::run(cfg).into_iter().filter(|c| !c.ok).collect();
        if !failed.is_empty() {
            for c in &failed {
                log.emit_or_warn(
                    Kind::SmokeCheckFailed,
                    fields! {"reason" => format!("{}: {}", c.name, c.reason)},
                );
            }
            return Ok(RoundOutcome::StartupFailed { failed });
        }
    }

    // 2. lock: contention writes nothing else
    tracing::debug!(step = "lock", "round");
    let _lock = crate::state::lock::acquire(&layout.lock(), Some(&layout.lock_holder()))?;

    // 3. round number, phase
    tracing::debug!(step = "round number and phase", "round");
    let (prev, recovered) = match Status::read(&layout.status()) {
        StatusRead::Ok(s) => (Some(s), false),
        StatusRead::Missing => (None, false),
        StatusRead::Corrupt => (None, true),
    };
    if recovered {
        log.emit_or_warn(
            Kind::StatusRecovered,
            fields! {"reason" => "status.json could not be parsed"},
        );
    }
    let round_num = prev.as_ref().map(|s| s.round_num).unwrap_or(0) + 1;
    let (phase_index, phase): (u64, Option<String>) = match phase_override {
        Some(p) => {
            if cfg.phases.list.is_empty() {
                return Err(RoundError::NoPhases);
            }
            match cfg.phases.list.iter().position(|x| x == p) {
                Some(i) => (i as u64, Some(p.to_string())),
                None => {
                    return Err(RoundError::UnknownPhase {
                        phase: p.to_string(),
                        list: cfg.phases.list.clone(),
                    })
                }
            }
        }
        None => match cfg.phase_for_round(round_num) {
            Some((i, p)) => (i as u64, Some(p.to_string())),
            None => (0, None),
        },
    };
    let phase_ref = phase.as_deref();
    let budget = cfg.budget_for(phase_ref);
    let started = chrono::Utc::now();

    // 4. context
    tracing::debug!(step = "context", "round");
    let mut ctx = Map::new();
    ctx.insert("round_num".into(), round_num.into());
    ctx.insert("started_at".into(), crate::timefmt::iso_ms(started).into());
    if let Some(p) = phase_ref {
        ctx.insert("phase".into(), p.into());
    }
    let orphan = OrphanState::read(&layout.orphan_state());
    if let Some(o) = orphan.as_ref() {
        if let Some(r) = &o.stashed_ref {
            ctx.insert(
                "orphan_stash".into(),
                json!({"ref": r, "message": o.stash_message, "files": o.files}),
            );
        }
    }
    if let Some(s) = prev.as_ref() {
        ctx.insert(
            "previous".into(),
            json!({"exit_code": s.last_exit_code, "duration_s": s.last_duration_s, "ended_at": s.last_completed_at, "had_dirty_tree": layout.orphan_state().exists()}),
        );
    }
    let ctx = Value::Object(ctx);
    let ctx_text = crate::state::pyjson::to_pretty(&ctx);
    if let Err(e) = crate::state::atomic::write_fast(&layout.round_context(), ctx_text.as_bytes()) {
        tracing::warn!("cannot write round-context.json: {e}");
    }
    if let Some(g) = &cfg.goal {
        goal::steer(g, &layout.log_dir, round_num, &log);
    }
    log.emit_or_warn(
        Kind::RoundStart,
        digest::round_start_fields(cfg, &layout, round_num, phase_ref),
    );
    // the phase's `[phases.<name>.agent]` merged over `[agent]`, if it has one
    let agent = cfg.agent_for(phase_ref);
    let agent_name = agent.binary_name();
    let sample_fields = |event: &str| {
        let s = metrics::sample(&layout.log_dir);
        let f = s.to_fields(
            Some(metrics::process_count(&agent_name)),
            Some(round_num),
            phase_ref,
        );
        if let Err(e) = metrics::append(&layout, event, f) {
            tracing::warn!("cannot write metrics: {e}");
        }
    };
    sample_fields("round_start");

    // 5. prompt
    tracing::debug!(step = "prompt", "round");
    let files = cfg.prompt_files_for(phase_ref);
    let body = if files.is_empty() {
        String::new()
    } else {
        prompt::assemble_body(
            &files,
            &cfg.prompt.concat_separator,
            cfg.prompt.strip_yaml_frontmatter,
        )
        .map_err(|source| RoundError::Prompt {
            source,
            config: cfg.path.clone(),
        })?
    };
    let text =
        if cfg.prompt.inject_context && cfg.prompt.context_injection_mode == ContextMode::Prepend {
            format!("{}{body}", prompt::context_block(&ctx))
        } else {
            body
        };

    // 6. spawn
    tracing::debug!(step = "spawn", "round");
    let work_dir = cfg.runtime.work_dir.to_string_lossy().into_owned();
    let mut argv: Vec<String> = cfg
        .agent
        .exec_prefix
        .iter()
        .map(|a| a.replace("{work_dir}", &work_dir))
        .collect();
    argv.extend(agent.command.iter().cloned());
    // cross-round resume: `[flag, id]` after the command, before the prompt
    argv.extend(resume::resume_args());
    match agent.prompt_delivery {
        PromptDelivery::Argv => argv.extend(
            agent
                .prompt_arg_template
                .iter()
                .map(|a| a.replace("{prompt}", &text)),
        ),
        PromptDelivery::Stdin => argv.extend(agent.prompt_arg_template.iter().cloned()),
    }
    let container = container::prepare(&mut argv);
    if let Some(c) = &container {
        tracing::warn!(
            runtime = %c.runtime,
            "the agent runs in a container: a killed round can leave it running; agent-runner stops it when it can and records round_container_orphan_risk"
        );
    }
    let mut env: Vec<(String, String)> = vec![
        (
            "AGENT_RUNNER_LOG_DIR".into(),
            layout.log_dir.to_string_lossy().into_owned(),
        ),
        ("AGENT_RUNNER_ROUND_NUM".into(), round_num.to_string()),
        (
            "AGENT_RUNNER_PHASE".into(),
            phase_ref.unwrap_or("").to_string(),
        ),
    ];
    env.extend(agent.env.iter().cloned());
    crate::state::layout::create_dirs(&layout.rounds_dir()).map_err(|source| {
        RoundError::RoundsDir {
            path: layout.rounds_dir(),
            source,
        }
    })?;
    let agent_log = layout.agent_log(round_num, started);
    let spec = process::SpawnSpec {
        argv,
        env,
        cwd: cfg.runtime.work_dir.clone(),
        stdin: (agent.prompt_delivery == PromptDelivery::Stdin).then(|| text.into_bytes()),
        log_path: agent_log.clone(),
    };
    // what the agent's output says, watched while it runs
    let watch = recognize::Watch::new(&agent_name, &agent_log)
        .map(|w| std::sync::Arc::new(std::sync::Mutex::new(w)));
    let policy = process::WaitPolicy {
        budget: Duration::from_secs(budget),
        term_grace: TERM_GRACE,
        terminal_marker: agent.terminal_marker.clone(),
        grace_after_result: (cfg.runtime.max_grace_after_result_s > 0)
            .then(|| Duration::from_secs(cfg.runtime.max_grace_after_result_s)),
        grace_ignore: cfg.runtime.grace_kill_ignore_patterns.clone(),
        progress_interval: (cfg.monitor.round_progress_interval_s > 0)
            .then(|| Duration::from_secs(cfg.monitor.round_progress_interval_s)),
        stop_signal: cooperative_stop_signal(&agent_name),
        stop_grace: stop_grace(agent),
        watch: watch.clone().map(|w| {
            process::SharedWatch(w as std::sync::Arc<std::sync::Mutex<dyn process::OutputWatch>>)
        }),
    };
    log.emit_or_warn(
        Kind::AgentSpawn,
        fields! {"round_num" => round_num, "timeout_s" => budget},
    );
    let stop = process::install_stop_handlers().map_err(RoundError::Signals)?;
    // orphans of the agent's tree re-parent to us, so they can be ended
    if let Err(e) = crate::sys::reaper::become_subreaper() {
        tracing::debug!("not a child subreaper: {e}");
    }
    let mut floor = memory::floor(cfg, &log, round_num, container.is_some());
    let mut on_obs = |o: process::Observation| {
        match o {
        process::Observation::Progress { log_size_kb, last_write_age_s, wall_age_s } => log.emit_or_warn(
            Kind::RoundProgress,
            fields! {"round_num" => round_num, "log_size_kb" => log_size_kb, "last_write_age_s" => last_write_age_s, "wall_age_s" => wall_age_s},
        ),
        process::Observation::GraceExtended { grace_s, live, ignored } => log.emit_or_warn(
            Kind::RoundGraceExtended,
            fields! {"round_num" => round_num, "grace_s" => grace_s, "live_children" => children_json(&live), "ignored_children" => children_json(&ignored)},
        ),
    }
    };
    let outcome = process::run_ticked(
        &spec,
        &policy,
        &stop,
        &mut on_obs,
        &mut memory::Ticks(&mut floor),
    )
    .map_err(|source| RoundError::Agent {
        agent: spec.argv.first().cloned().unwrap_or_default(),
        source,
    })?;

    // 7. exit classification
    tracing::debug!(step = "exit classification", "round");
    let rec = watch
        .and_then(|w| w.lock().ok().map(|mut w| w.finish(outcome.duration)))
        .unwrap_or_default();
    let cause = process::exit_cause(&outcome);
    let duration_s = outcome.duration.as_secs_f64();
    log.emit_or_warn(
        Kind::AgentExit,
        fields! {"round_num" => round_num, "exit_code" => outcome.exit_code, "duration_s" => duration_s, "timed_out" => outcome.timed_out, "exit_cause" => cause.clone()},
    );
    if let Some(c) = container
        .as_ref()
        .filter(|_| outcome.timed_out || outcome.grace_killed || outcome.cancelled)
    {
        let (id, stop_ok) = c.stop();
        log.emit_or_warn(
            Kind::RoundContainerOrphanRisk,
            fields! {"round_num" => round_num, "runtime" => c.runtime.clone(), "container_id" => id, "stop_ok" => stop_ok},
        );
    }
    if !outcome.escaped_killed.is_empty() {
        log.emit_or_warn(
            Kind::RoundEscapedProcessesKilled,
            fields! {"round_num" => round_num, "count" => outcome.escaped_killed.len(), "processes" => children_json(&outcome.escaped_killed)},
        );
    }
    floor.finish(outcome.exit_code, &agent_log);

    // 7b. goal checks: after the agent, before the dirty tree is stashed
    if let Some(g) = &cfg.goal {
        tracing::debug!(step = "goal checks", "round");
        goal::run_checks(g, &cfg.runtime.work_dir, cfg.runtime.dry_run, &log);
    }

    // 8. network blip (failed, not killed by a signal)
    tracing::debug!(step = "network blip scan", "round");
    let failed = outcome.exit_code != 0 || outcome.timed_out;
    if failed && !cause.starts_with("signal:") && !outcome.timed_out {
        let recognized = rec
            .of(recognize::Class::Network)
            .map(|s| s.matched.to_string());
        if let Some(m) = parsers::network_blip_in_file(&agent_log).or(recognized) {
            log.emit_or_warn(
                Kind::AgentNetworkBlip,
                fields! {"round_num" => round_num, "phase" => phase_ref, "matched" => m, "round_duration_s" => duration_s, "exit_code" => outcome.exit_code, "timed_out" => outcome.timed_out},
            );
        }
    }

    // 9. dirty tree
    tracing::debug!(step = "dirty tree", "round");
    handle_dirty(
        cfg,
        &log,
        &layout,
        round_num,
        phase_ref,
        outcome.exit_code == 0 && (!outcome.timed_out || outcome.grace_killed),
    );

    // 10. kill events
    tracing::debug!(step = "kill events", "round");
    if outcome.grace_killed {
        log.emit_or_warn(Kind::RoundGraceKill, fields! {"round_num" => round_num, "grace_s" => cfg.runtime.max_grace_after_result_s, "live_children" => Vec::<Value>::new()});
    } else if outcome.timed_out {
        log.emit_or_warn(Kind::RoundTimeoutKill, fields! {"round_num" => round_num, "reason" => format!("exceeded round_budget_s={budget}")});
    }
    if outcome.cancelled {
        log.emit_or_warn(
            Kind::RoundCancelled,
            fields! {"round_num" => round_num, "reason" => "stop requested"},
        );
    }

    // 11. status, metrics, round_end
    tracing::debug!(step = "status, metrics, round_end", "round");
    let status = Status {
        round_num,
        running: false,
        last_completed_at: Some(crate::timefmt::now_iso_ms()),
        last_exit_code: Some(outcome.exit_code.into()),
        last_duration_s: Some(duration_s),
        current_phase: phase.clone(),
        phase_index: Some(phase_index),
    };
    // The durable write (fsync) overlaps the round_end metrics sample; both
    // finish before round_end is emitted.
    let status_path = layout.status();
    let written = std::thread::scope(|s| {
        let w = s.spawn(|| status.write(&status_path));
        sample_fields("round_end");
        w.join()
    });
    match written {
        Ok(Ok(())) => {}
        Ok(Err(source)) => {
            return Err(RoundError::Status {
                path: status_path,
                source,
            })
        }
        Err(_) => return Err(RoundError::StatusThread),
    }
    log.emit_or_warn(Kind::RoundEnd, fields! {"round_num" => round_num});

    // 12. parsers
    tracing::debug!(step = "parsers", "round");
    let tail = parsers::tail_for_parsers(&agent_log, parsers::TAIL_JSON_LINES);
    let input = parsers::ParseInput {
        agent_binary: &agent_name,
        log_tail: &tail,
        round_num,
        phase: phase_ref,
        success: outcome.exit_code == 0 && !outcome.timed_out,
        repetitive_window: cfg.monitor.anomaly_repetitive_window,
        repetitive_threshold: cfg.monitor.anomaly_repetitive_threshold,
        now_epoch: chrono::Utc::now().timestamp(),
    };
    // a parser `[plugins] disable` names gives no events; the recognition
    // of the agent's words (needs-human, auth, transient) still runs
    let disabled = parsers::parser_for(&agent_name)
        .is_some_and(|p| cfg.plugins.disable.iter().any(|d| d == p));
    let parsed = if disabled {
        Vec::new()
    } else {
        let head = parsers::head_for_parsers(&agent_log, parsers::HEAD_LINES);
        parsers::post_round_events_with_head(&input, &head)
    };
    let events = recognize::recognized_events(
        &rec,
        parsed,
        &agent_name,
        round_num,
        phase_ref,
        input.now_epoch,
    );
    let verdict = recognize::AgentVerdict::of(
        outcome.exit_code,
        outcome.timed_out,
        outcome.grace_killed,
        outcome.ended_by.is_some(),
        &events,
    );
    for (kind, payload) in events {
        log.emit_or_warn(kind, payload);
    }
    Ok(RoundOutcome::Completed { verdict })
}

/// The signal a stop request sends first: the agent's cooperative stop
/// (claude flushes on SIGINT), else SIGTERM (0.3 delta §3.7).
pub fn cooperative_stop_signal(agent_binary: &str) -> nix::sys::signal::Signal {
    let from_env = std::env::var("AGENT_RUNNER_COOPERATIVE_STOP_SIGNAL").ok();
    match from_env.as_deref() {
        Some("SIGINT") => return nix::sys::signal::Signal::SIGINT,
        Some("SIGTERM") => return nix::sys::signal::Signal::SIGTERM,
        _ => {}
    }
    match crate::config::presets::manifest(agent_binary).and_then(|m| m.cooperative_stop) {
        Some("SIGINT") => nix::sys::signal::Signal::SIGINT,
        _ => nix::sys::signal::Signal::SIGTERM,
    }
}

/// Grace after the cooperative stop signal: `sigterm_grace_s` for agents that
/// stop cooperatively (their preset manifest names a signal: claude, gemini,
/// pi), the fixed 5 s otherwise.
pub fn stop_grace(agent: &crate::config::AgentConfig) -> Duration {
    match crate::config::presets::manifest(&agent.binary_name()).and_then(|m| m.cooperative_stop) {
        Some(_) => Duration::from_secs(agent.sigterm_grace_s).min(process::MAX_STOP_GRACE),
        None => TERM_GRACE,
    }
}

fn children_json(c: &[process::ChildInfo]) -> Value {
    Value::Array(
        c.iter()
            .take(5)
            .map(|c| match &c.matched {
                Some(m) => json!({"name": c.name, "pid": c.pid, "matched": m}),
                None => json!({"name": c.name, "pid": c.pid}),
            })
            .collect(),
    )
}

/// `stale_index_lock_cleared` when a timed-out git's `index.lock` was removed.
fn note_stale_lock(log: &EventLog, round_num: u64, e: &vcs::GitError) {
    if let Some(lock) = e.stale_lock_cleared() {
        log.emit_or_warn(
            Kind::StaleIndexLockCleared,
            fields! {"lock_path" => lock.display().to_string(), "round_num" => round_num},
        );
    }
}

fn handle_dirty(
    cfg: &Config,
    log: &EventLog,
    layout: &Layout,
    round_num: u64,
    phase: Option<&str>,
    clean_exit: bool,
) {
    let wd = &cfg.runtime.work_dir;
    let raw = match vcs::dirty_files(wd) {
        Ok(f) => f,
        Err(e) => {
            note_stale_lock(log, round_num, &e);
            log.emit_or_warn(
                Kind::DirtyCheckFailed,
                fields! {"round_num" => round_num, "reason" => e.to_string()},
            );
            return;
        }
    };
    // Only a dirty tree needs the protected list (two more git calls).
    let protected = if raw.is_empty() {
        Vec::new()
    } else {
        vcs::protected_relative(wd, &protected_paths(cfg))
    };
    let files = vcs::without_protected(raw, &protected);
    if files.is_empty() {
        let _ = std::fs::remove_file(layout.orphan_state());
        return;
    }
    let shown: Vec<&String> = files.iter().take(DIRTY_LIST_MAX).collect();
    log.emit_or_warn(
        Kind::DirtyDetected,
        fields! {"round_num" => round_num, "files" => shown},
    );
    if !clean_exit {
        return;
    }
    match cfg.vcs.dirty_action {
        DirtyAction::Ignore => {}
        DirtyAction::Stash => match vcs::stash(
            wd,
            round_num,
            phase,
            cfg.vcs.stash_idempotency_s,
            &protected,
        ) {
            Ok(vcs::StashOutcome::Stashed { sha, message }) => {
                let st = OrphanState {
                    round_num,
                    files: files.clone(),
                    stashed_ref: Some(sha.clone()),
                    stash_message: Some(message),
                    timestamp: Some(crate::timefmt::now_iso_ms()),
                    phase: phase.map(String::from),
                };
                if let Err(e) = st.write(&layout.orphan_state()) {
                    tracing::warn!("cannot write orphan-state.json: {e}");
                }
                log.emit_or_warn(Kind::OrphanStashed, fields! {"round_num" => round_num, "ref" => sha, "reason" => "clean_exit_with_dirty_tree"});
            }
            Ok(vcs::StashOutcome::Reused { sha }) => {
                log.emit_or_warn(Kind::OrphanIdempotentSkip, fields! {"round_num" => round_num, "ref" => sha, "reason" => "clean_exit_with_dirty_tree"});
            }
            Ok(vcs::StashOutcome::Failed { reason }) => {
                log.emit_or_warn(Kind::OrphanStashFailed, fields! {"round_num" => round_num, "phase" => phase, "reason" => crate::redact::redact(&reason)});
            }
            Ok(vcs::StashOutcome::Nothing) => {}
            Err(e) => {
                note_stale_lock(log, round_num, &e);
                log.emit_or_warn(
                    Kind::OrphanStashFailed,
                    fields! {"round_num" => round_num, "phase" => phase, "reason" => e.to_string()},
                )
            }
        },
        DirtyAction::AutoCommit => match vcs::auto_commit(wd, round_num, phase, &protected) {
            Ok(vcs::CommitOutcome::Committed { sha }) => {
                let shown: Vec<&String> = files.iter().take(DIRTY_LIST_MAX).collect();
                log.emit_or_warn(
                    Kind::DirtyAutoCommitted,
                    fields! {"round_num" => round_num, "files" => shown, "ref" => sha},
                );
            }
            Ok(vcs::CommitOutcome::Failed { reason }) => {
                log.emit_or_warn(Kind::DirtyCommitFailed, fields! {"round_num" => round_num, "phase" => phase, "reason" => crate::redact::redact(&reason)});
            }
            Ok(vcs::CommitOutcome::Nothing) => {}
            Err(e) => {
                note_stale_lock(log, round_num, &e);
                log.emit_or_warn(
                    Kind::DirtyCommitFailed,
                    fields! {"round_num" => round_num, "phase" => phase, "reason" => e.to_string()},
                )
            }
        },
    }
}
