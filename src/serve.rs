//! Layer 2, the Loop (spec §7, 0.3 delta §3.1): run `round` as a child process
//! again and again, and decide after each one whether to go on. Every stop
//! condition is explicit and ends with its event and a documented exit code:
//! `.agent-done`, `stop_file`, `max_rounds`, a transient-error `stop`, a
//! signal (all 0), `config_broken` (78), `crash_loop` and
//! `stalled_no_progress` (75), `mem_loop` (71) and `mem_loop_persistent`
//! (70). Between rounds (never inside one) the memory admission gate and the
//! `[schedule]` gate may pause the loop (`memory`, `schedule_gate`); the
//! breakers' decisions live in `policy`. serve is a child subreaper: what a
//! dead round left running is ended before the next round (`memory`), and
//! where it may, it runs each round in a cgroup of its own that it empties
//! with `cgroup.kill` (`round_cgroup`).
//!
//! Sleeps wake at once on SIGTERM/SIGINT; a second SIGINT ends the running
//! round (and so the agent's process group) now.

mod child;
mod memory;
pub mod policy;
mod round_cgroup;
mod round_logs;
pub mod schedule_gate;
mod substrate;
mod throttle;

pub use child::kill_tree;
use child::run_round_child;
use round_logs::{crash_reason, prune_round_logs, repoint_current};
pub use substrate::substrate;
pub use throttle::{backoff_base_s, throttle_state, Throttle};
use throttle::{ABS_CAP_S, DEFENSIVE_CAP_S, EXP_CAP};

pub use policy::{
    decide, Decision, CRASH_LOOP_THRESHOLD, MAX_DELAY_S, NO_PROGRESS_SHORT_S, SHORT_EXIT_S,
};
use schedule_gate::Selection;

use crate::config::{Config, TransientErrorAction};
use crate::fields;
use crate::state::status::{Status, StatusRead};
use crate::state::{EventLog, Kind, Layout};
use crate::sys::signals::{Signals, Wake};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How `serve` was asked to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeOptions {
    pub max_rounds: Option<u64>,
    pub once: bool,
    /// `--ignore-schedule`: run rounds regardless of `[schedule]` windows.
    pub ignore_schedule: bool,
}

/// Why the loop stopped (each cause has its documented exit code, mapped by
/// the `serve` verb).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    AgentDone,
    StopFile,
    MaxRounds,
    RateLimitStop,
    Signal,
    Once,
    ConfigBroken,
    CrashLoop,
    StalledNoProgress,
    MemLoop,
    MemLoopPersistent,
}

/// How the loop ended: the cause, and for the terminal ones (config broken,
/// crash loop, stalled) one line for the operator saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub cause: StopCause,
    pub detail: Option<String>,
}

impl From<StopCause> for Stopped {
    fn from(cause: StopCause) -> Stopped {
        Stopped {
            cause,
            detail: None,
        }
    }
}

/// Why the loop could not start; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create log_dir '{}': {source}", path.display())]
    LogDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("serve is already running for this project (serve.pid: {holder}) — use 'agent-runner stop' first")]
    AlreadyRunning { holder: String },
    /// serve.lock could not be opened or locked (not: another holder).
    #[error("{0}")]
    Lock(crate::state::lock::LockError),
    #[error("cannot write '{}': {source}", path.display())]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot find own executable: {0}")]
    SelfExe(std::io::Error),
}

fn read_trimmed(p: &Path, max: usize) -> String {
    std::fs::read(p)
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim()
                .chars()
                .take(max)
                .collect()
        })
        .unwrap_or_default()
}

/// The `serve.pid` record: pid plus start-time token against pid reuse.
pub fn write_pid_file(layout: &Layout) -> std::io::Result<()> {
    let me = std::process::id() as i32;
    let v = serde_json::json!({"pid": me, "create_time": crate::sys::proc::create_time(me)});
    crate::state::atomic::write(
        &layout.serve_pid(),
        crate::state::pyjson::to_line(&v).as_bytes(),
    )
}

struct PidFileGuard(PathBuf);
impl Drop for PidFileGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Run the loop until a stop condition.
/// `notice` prints one line for the operator (the cgroup advisory).
pub fn serve_with(
    cfg: &Config,
    opts: &ServeOptions,
    signals: &Signals,
    notice: &dyn Fn(&str),
) -> Result<Stopped, ServeError> {
    let (max_rounds, once) = (opts.max_rounds, opts.once);
    let layout = Layout::new(&cfg.runtime.log_dir);
    crate::state::layout::create_dirs(&layout.log_dir).map_err(|source| ServeError::LogDir {
        path: layout.log_dir.clone(),
        source,
    })?;
    let log = EventLog::new(layout.clone());
    let _serve_lock = crate::state::lock::acquire(&layout.serve_lock(), None).map_err(|e| {
        if !matches!(e, crate::state::lock::LockError::Held { .. }) {
            return ServeError::Lock(e);
        }
        let holder = std::fs::read_to_string(layout.serve_pid()).unwrap_or_default();
        ServeError::AlreadyRunning {
            holder: holder.trim().to_string(),
        }
    })?;
    write_pid_file(&layout).map_err(|source| ServeError::PidFile {
        path: layout.serve_pid(),
        source,
    })?;
    let _pid_guard = PidFileGuard(layout.serve_pid());
    let _ = std::fs::remove_file(layout.agent_done());
    prune_round_logs(&layout, cfg.runtime.round_log_retention, &log);
    if !opts.ignore_schedule {
        // a schedule that cannot be evaluated must stop serve, never be ignored
        if let Err(e) = schedule_gate::validate(cfg) {
            log.emit_or_warn(Kind::ConfigBroken, fields! {"reason" => e.clone()});
            return Ok(Stopped {
                cause: StopCause::ConfigBroken,
                detail: Some(e),
            });
        }
    }

    let exe = crate::sys::proc::self_exe().map_err(ServeError::SelfExe)?;
    memory::boot(cfg, &log, notice);
    let mut mem_gate = crate::coma::gate::Gate::new();
    let mut consecutive_mem: u32 = 0;
    let mut rounds_completed: u64 = 0;
    let mut consecutive: u32 = 0;
    let mut consecutive_no_progress: u32 = 0;
    let mut needs_human = (0, None);
    let mut backoff_counts: std::collections::HashMap<String, u32> = Default::default();
    let stop_requested = || signals.counts().any();
    // skip policy: route around throttled agents' phases instead of backing off
    let skip_around = !opts.ignore_schedule
        && schedule_gate::phase_aware(cfg)
        && cfg.phases.phase_policy == crate::config::PhasePolicy::Skip;

    let mut detail: Option<String> = None;
    let cause = loop {
        if stop_requested() {
            break StopCause::Signal;
        }
        // 1. sentinel
        if layout.agent_done().exists() {
            let reason = read_trimmed(&layout.agent_done(), 200);
            log.emit_or_warn(Kind::AgentSelfTerminated, fields! {"reason" => reason});
            break StopCause::AgentDone;
        }
        // 2. throttle
        let now = chrono::Utc::now().timestamp();
        let mut per_agent = throttle::PerAgent::default();
        if skip_around {
            per_agent = throttle::per_agent(&layout, now);
            for (agent, classification, secs) in &per_agent.cleared {
                log.emit_or_warn(
                    Kind::TransientErrorRecovered,
                    fields! {"classification" => classification, "agent" => agent, "throttled_for_s" => secs},
                );
            }
        } else if let Some(cause) = throttle_gate(cfg, &log, signals, now, &mut backoff_counts) {
            break cause;
        }
        // 3. stop file
        if let Some(sf) = cfg.runtime.stop_file.as_ref().filter(|p| p.exists()) {
            log.emit_or_warn(
                Kind::StopFileDetected,
                fields! {"stop_file" => sf.to_string_lossy(), "content" => read_trimmed(sf, 200), "rounds_completed" => rounds_completed},
            );
            break StopCause::StopFile;
        }
        // 4. max rounds
        if let Some(m) = max_rounds.filter(|m| rounds_completed >= *m) {
            log.emit_or_warn(
                Kind::MaxRoundsReached,
                fields! {"rounds_completed" => rounds_completed, "max_rounds" => m},
            );
            break StopCause::MaxRounds;
        }
        // 5. the one round counter: status.json + 1
        let round_num = match Status::read(&layout.status()) {
            StatusRead::Ok(s) => s.round_num + 1,
            _ => 1,
        };
        // memory admission gate: ahead of the schedule, and not bypassed by
        // --ignore-schedule
        if memory::gate(cfg, &log, signals, &mut mem_gate) {
            continue;
        }
        // 6. schedule gate: between rounds only (a running round is never gated)
        let phase: Option<String> = if opts.ignore_schedule {
            None
        } else {
            let now = chrono::Utc::now().timestamp();
            let throttled = |p: &str| {
                per_agent
                    .active
                    .contains_key(&cfg.agent_for(Some(p)).binary_name())
            };
            match schedule_gate::select(cfg, round_num, now, &throttled) {
                Err(e) => {
                    log.emit_or_warn(Kind::ConfigBroken, fields! {"reason" => e.clone()});
                    detail = Some(e);
                    break StopCause::ConfigBroken;
                }
                Ok(Selection::Run {
                    phase,
                    skipped,
                    active_window,
                }) => {
                    if !skipped.is_empty() {
                        log.emit_or_warn(
                            Kind::SchedulePhaseSkipped,
                            fields! {"round_num" => round_num, "skipped" => skipped, "chosen" => phase.clone(), "active_window" => active_window},
                        );
                    }
                    phase
                }
                Ok(Selection::Pause { pause, phase }) => {
                    if !per_agent.active.is_empty()
                        && cfg.runtime.transient_error_action == TransientErrorAction::Stop
                    {
                        log.emit_or_warn(
                            Kind::AgentSelfTerminated,
                            fields! {"reason" => "rate_limit"},
                        );
                        break StopCause::RateLimitStop;
                    }
                    let wait = PauseWait {
                        round_num,
                        throttled: &throttled,
                        wake_epoch: per_agent.wake_epoch(),
                    };
                    pause_for_schedule(cfg, &log, signals, &wait, &pause, phase.as_deref());
                    continue;
                }
            }
        };
        let (head, ph) = substrate(cfg);
        log.emit_or_warn(
            Kind::RoundSubstrateBefore,
            fields! {"round_num" => round_num, "git_head" => head, "paths_hash" => ph},
        );
        let fresh = cfg
            .runtime
            .fresh_eyes_every_n
            .is_some_and(|n| round_num % n == 0);
        if let Some(n) = cfg.runtime.fresh_eyes_every_n.filter(|_| fresh) {
            log.emit_or_warn(
                Kind::FreshEyesRoundTriggered,
                fields! {"round_num" => round_num, "every_n" => n},
            );
        }
        // 6. run the round child
        let started = Instant::now();
        let (rc, round_cg) =
            run_round_child(&exe, cfg, round_num, phase.as_deref(), fresh, signals, &log);
        let duration = started.elapsed().as_secs_f64();
        memory::sweep_orphans(&log, round_num, round_cg);
        repoint_current(&layout, round_num);
        let (head, ph) = substrate(cfg);
        log.emit_or_warn(
            Kind::RoundSubstrateAfter,
            fields! {"round_num" => round_num, "git_head" => head, "paths_hash" => ph},
        );
        rounds_completed += 1;

        // 7. an agent that waits for a human (a login, a non-root user): stop
        // with the remedy when it repeats, instead of crash-looping
        let human = (rc == crate::exit_code::AGENT_NEEDS_HUMAN)
            .then(|| policy::needs_human(&layout, round_num))
            .flatten();
        if let Some(line) = policy::needs_human_stop(human, &mut needs_human) {
            log.emit_or_warn(Kind::ConfigBroken, fields! {"reason" => line.clone()});
            detail = Some(line);
            break StopCause::ConfigBroken;
        }
        // 8. decide
        let (agent_rc, agent_failed) = match Status::read(&layout.status()) {
            StatusRead::Ok(s) if s.round_num == round_num => {
                let code = s.last_exit_code.unwrap_or(0);
                (code, code != 0)
            }
            _ => (i64::from(rc), rc != 0),
        };
        let ran_phase = phase
            .as_deref()
            .or_else(|| cfg.phase_for_round(round_num).map(|(_, p)| p));
        let ran_agent = cfg.agent_for(ran_phase).binary_name();
        let now = chrono::Utc::now().timestamp();
        let throttled = if skip_around {
            throttle::per_agent(&layout, now)
                .active
                .contains_key(&ran_agent)
        } else {
            throttle_state(&layout, now).is_some()
        };
        // a memory-terminated round is not a crash: it counts as throttled
        let mem_terminated = policy::round_was_mem_terminated(&layout.log_dir, round_num);
        let throttled = throttled || mem_terminated;
        let mem_loop = policy::mem_loop_decision(mem_terminated, &mut consecutive_mem);
        let cancelled_by_us = signals.counts().int >= 2 || round_was_cancelled(&layout, round_num);
        let no_progress = policy::round_had_no_progress(
            &layout.log_dir,
            &ran_agent,
            round_num,
            rc == 0 && !agent_failed,
            duration,
            throttled,
        );
        let stalled = policy::no_progress_decision(no_progress, &mut consecutive_no_progress);
        let decision = decide(
            rc,
            agent_failed && !cancelled_by_us,
            duration,
            throttled,
            &mut consecutive,
            cfg.runtime.restart_delay_s,
        );
        if mem_loop && decision != Decision::ConfigBroken {
            let code = if rc != 0 { i64::from(rc) } else { agent_rc };
            let (cause, text) = memory::mem_loop_stop(&log, round_num, consecutive_mem, code);
            detail = Some(text);
            break cause;
        }
        match decision {
            Decision::ConfigBroken => {
                log.emit_or_warn(
                    Kind::ConfigBroken,
                    fields! {"reason" => "startup battery permanent failure"},
                );
                break StopCause::ConfigBroken;
            }
            Decision::CrashLoop => {
                let reason = crash_reason(&layout, round_num);
                let code = if rc != 0 { i64::from(rc) } else { agent_rc };
                log.emit_or_warn(
                    Kind::CrashLoop,
                    fields! {"consecutive" => consecutive, "exit_code" => code, "reason" => reason},
                );
                detail = Some(format!("crash loop: {consecutive} rounds in a row failed within {SHORT_EXIT_S}s — stopping (see '{}')", layout.log_dir.display()));
                break StopCause::CrashLoop;
            }
            Decision::Continue { .. } if stalled => {
                log.emit_or_warn(
                    Kind::StalledNoProgress,
                    fields! {"consecutive" => consecutive_no_progress, "exit_code" => rc, "reason" => crash_reason(&layout, round_num)},
                );
                detail = Some(format!("stalled: {consecutive_no_progress} rounds in a row exited 0 within {NO_PROGRESS_SHORT_S}s without recorded usage — stopping (see '{}')", layout.log_dir.display()));
                break StopCause::StalledNoProgress;
            }
            Decision::Continue { delay_s } => {
                let delay_s =
                    policy::mem_delay(delay_s, mem_terminated, cfg.runtime.restart_delay_s);
                if once {
                    break StopCause::Once;
                }
                if stop_requested() {
                    break StopCause::Signal;
                }
                if let Some(m) = max_rounds.filter(|m| rounds_completed >= *m) {
                    log.emit_or_warn(
                        Kind::MaxRoundsReached,
                        fields! {"rounds_completed" => rounds_completed, "max_rounds" => m},
                    );
                    break StopCause::MaxRounds;
                }
                interruptible_sleep(signals, Duration::from_secs(delay_s), cfg);
            }
        }
    };
    if cause == StopCause::Signal {
        let c = signals.counts();
        let sig = if c.term > 0 {
            "SIGTERM"
        } else if c.int > 0 {
            "SIGINT"
        } else {
            "SIGHUP"
        };
        log.emit_or_warn(
            Kind::ServeStopping,
            fields! {"reason" => "signal", "signal" => sig},
        );
    }
    Ok(Stopped { cause, detail })
}

/// The single-throttle gate of every policy but `skip` (spec §7.3): with the
/// newest throttle active, `stop` ends the loop, `skip` goes on, `back_off`
/// sleeps (interruptibly) until its reset. `Some(cause)` stops the loop.
fn throttle_gate(
    cfg: &Config,
    log: &EventLog,
    signals: &Signals,
    now: i64,
    backoff_counts: &mut std::collections::HashMap<String, u32>,
) -> Option<StopCause> {
    let Some(t) = throttle_state(log.layout(), now) else {
        backoff_counts.clear();
        return None;
    };
    match cfg.runtime.transient_error_action {
        TransientErrorAction::Stop => {
            log.emit_or_warn(
                Kind::AgentSelfTerminated,
                fields! {"reason" => "rate_limit"},
            );
            Some(StopCause::RateLimitStop)
        }
        TransientErrorAction::Skip => None,
        TransientErrorAction::BackOff => {
            let target = match backoff_base_s(&t.classification) {
                None => t.reset_at_epoch,
                Some(base) => {
                    let n = backoff_counts.entry(t.classification.clone()).or_insert(0);
                    let mult = 1u64 << (*n).min(EXP_CAP);
                    let extended = base * mult;
                    let capped = extended > ABS_CAP_S;
                    let applied = extended.min(ABS_CAP_S);
                    *n += 1;
                    if mult > 1 || capped {
                        log.emit_or_warn(
                            Kind::TransientErrorBackoffCapped,
                            fields! {"classification" => t.classification.clone(), "agent" => t.agent.clone(), "requested_sleep_s" => base, "applied_sleep_s" => applied,
                            "original_reset_at_epoch" => t.reset_at_epoch, "applied_reset_at_epoch" => now + applied as i64, "consecutive_count" => *n, "capped_by_absolute_max" => capped},
                        );
                    }
                    now + applied as i64
                }
            };
            let jitter: f64 = 5.0 + rand::random::<f64>() * 25.0;
            let mut requested = (target - now) as f64 + jitter;
            if requested > DEFENSIVE_CAP_S as f64 {
                log.emit_or_warn(
                    Kind::TransientErrorBackoffCapped,
                    fields! {"classification" => t.classification.clone(), "agent" => t.agent.clone(), "requested_sleep_s" => requested as i64, "applied_sleep_s" => DEFENSIVE_CAP_S},
                );
                requested = DEFENSIVE_CAP_S as f64;
            }
            let slept =
                interruptible_sleep(signals, Duration::from_secs_f64(requested.max(0.0)), cfg);
            if signals.counts().any() {
                return Some(StopCause::Signal);
            }
            log.emit_or_warn(
                Kind::TransientErrorRecovered,
                fields! {"classification" => t.classification.clone(), "agent" => t.agent.clone(), "throttled_for_s" => slept.as_secs()},
            );
            None
        }
    }
}

/// Longest wait between re-checks of a closed schedule.
const SCHEDULE_POLL: Duration = Duration::from_secs(30);

/// What a schedule pause waits for: the round's selection to become
/// runnable (throttled phases stay excluded) or a throttle to reset.
struct PauseWait<'a> {
    round_num: u64,
    throttled: &'a dyn Fn(&str) -> bool,
    wake_epoch: Option<i64>,
}

/// Emit `schedule_paused`, then re-check every 30 s (or at the announced
/// opening / throttle reset, if sooner) until a window opens
/// (`schedule_resumed`) or a signal / the stop file / the sentinel ends the
/// pause (no resume event: the loop top handles the stop).
fn pause_for_schedule(
    cfg: &Config,
    log: &EventLog,
    signals: &Signals,
    wait: &PauseWait<'_>,
    pause: &schedule_gate::Pause,
    phase: Option<&str>,
) {
    let mut f = fields! {"active_window" => pause.active_window.clone(), "resume_at" => pause.resume_at.clone(), "timezone" => pause.timezone.clone()};
    if let Some(p) = phase {
        f.insert("phase".into(), Value::String(p.to_string()));
    }
    log.emit_or_warn(Kind::SchedulePaused, f);
    let started = Instant::now();
    let layout = log.layout();
    loop {
        // wake no later than the announced opening or a throttle's reset
        let now = chrono::Utc::now().timestamp();
        let next = [pause.resume_epoch, wait.wake_epoch]
            .into_iter()
            .flatten()
            .filter(|&t| t >= now)
            .min()
            .map(|t| Duration::from_secs((t - now).max(1) as u64));
        let chunk = next.map_or(SCHEDULE_POLL, |n| n.min(SCHEDULE_POLL));
        interruptible_sleep(signals, chunk, cfg);
        if signals.counts().any()
            || cfg.runtime.stop_file.as_ref().is_some_and(|p| p.exists())
            || layout.agent_done().exists()
        {
            return;
        }
        let now = chrono::Utc::now().timestamp();
        let woken = wait.wake_epoch.is_some_and(|w| now >= w);
        match schedule_gate::select(cfg, wait.round_num, now, wait.throttled) {
            Ok(Selection::Pause { .. }) if !woken => continue,
            Ok(_) => {
                log.emit_or_warn(
                    Kind::ScheduleResumed,
                    fields! {"paused_for_s" => started.elapsed().as_secs()},
                );
                return;
            }
            Err(_) => return,
        }
    }
}

/// Sleep up to `d`, waking at once on a signal; the stop file and the
/// sentinel are re-checked every few seconds. Returns the time slept.
fn interruptible_sleep(signals: &Signals, d: Duration, cfg: &Config) -> Duration {
    let start = Instant::now();
    let deadline = start + d;
    while Instant::now() < deadline {
        if signals.counts().any() {
            break;
        }
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(5));
        if signals.wait(left, None) == Wake::Signal {
            break;
        }
        if cfg.runtime.stop_file.as_ref().is_some_and(|p| p.exists())
            || Layout::new(&cfg.runtime.log_dir).agent_done().exists()
        {
            break;
        }
    }
    start.elapsed()
}

/// True if the round recorded `round_cancelled` (e.g. `agent-runner cancel`):
/// a cancelled round is not a failure for the breaker.
fn round_was_cancelled(layout: &Layout, round_num: u64) -> bool {
    let Some(f) = layout.event_files().pop() else {
        return false;
    };
    crate::state::events::tail_lines(&f, 50)
        .iter()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|e| {
            e.get("event").and_then(Value::as_str) == Some("round_cancelled")
                && e.get("round_num").and_then(Value::as_u64) == Some(round_num)
        })
}
