//! Layer 2, the Loop (spec §7, 0.3 delta §3.1): run `round` as a child process
//! again and again, and decide after each one whether to go on. Every stop
//! condition is explicit and ends with its event and a documented exit code:
//! `.agent-done`, `stop_file`, `max_rounds`, a transient-error `stop`, a
//! signal (all 0), `config_broken` (78), `crash_loop` (75).
//!
//! Sleeps wake at once on SIGTERM/SIGINT; a second SIGINT ends the running
//! round (and so the agent's process group) now.

use crate::cli::{CliError, CmdResult, GlobalArgs, ServeArgs};
use crate::config::{Config, TransientErrorAction};
use crate::exit_code;
use crate::fields;
use crate::signals::{Signals, Wake};
use crate::state::status::{Status, StatusRead};
use crate::state::{EventLog, Kind, Layout};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Consecutive fast failures that trip the crash-loop breaker.
pub const CRASH_LOOP_THRESHOLD: u32 = 5;
/// A failing round shorter than this counts as a fast failure.
pub const SHORT_EXIT_S: f64 = 60.0;
/// Upper bound of any restart delay.
pub const MAX_DELAY_S: u64 = 1800;

/// `agent-runner serve`.
pub fn cmd_serve(g: &GlobalArgs, a: &ServeArgs) -> CmdResult {
    let cfg = crate::config::load(&g.config)
        .map_err(|e| CliError::new(exit_code::CONFIG_BROKEN, e.to_string()))?;
    let max_rounds = a.max_rounds.or(cfg.runtime.max_rounds);
    let signals = Signals::install()
        .map_err(|e| CliError::failure(format!("cannot install signal handlers: {e}")))?;
    serve(&cfg, max_rounds, a.once, &signals)
}

/// Why the loop stopped, and the exit code that goes with it.
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
}

impl StopCause {
    pub fn exit_code(self) -> i32 {
        match self {
            StopCause::ConfigBroken => exit_code::CONFIG_BROKEN,
            StopCause::CrashLoop => exit_code::CRASH_LOOP,
            _ => exit_code::OK,
        }
    }
}

/// The restart policy after one round (spec §7.4, with the breaker counting
/// agents that fail fast, not only crashes of the round process).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Continue { delay_s: u64 },
    ConfigBroken,
    CrashLoop,
}

/// Pure restart decision. `round_rc` is the round process's exit code,
/// `agent_failed` whether the agent itself failed, `duration_s` the round's.
pub fn decide(
    round_rc: i32,
    agent_failed: bool,
    duration_s: f64,
    throttled: bool,
    consecutive: &mut u32,
    restart_delay_s: u64,
) -> Decision {
    if round_rc == exit_code::CONFIG_BROKEN {
        return Decision::ConfigBroken;
    }
    if round_rc == exit_code::ENVIRONMENTAL {
        *consecutive = 0;
        return Decision::Continue {
            delay_s: (restart_delay_s * 2).min(MAX_DELAY_S),
        };
    }
    let failed = round_rc != 0 || agent_failed;
    if failed && duration_s < SHORT_EXIT_S && !throttled {
        *consecutive += 1;
        if *consecutive >= CRASH_LOOP_THRESHOLD {
            return Decision::CrashLoop;
        }
        let d = restart_delay_s
            .saturating_mul(1u64 << (*consecutive).min(20))
            .min(MAX_DELAY_S);
        return Decision::Continue { delay_s: d };
    }
    *consecutive = 0;
    Decision::Continue {
        delay_s: if failed {
            (restart_delay_s * 2).min(MAX_DELAY_S)
        } else {
            restart_delay_s
        },
    }
}

/// An active throttle read from the event log (spec §7.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    pub reset_at_epoch: i64,
    pub classification: String,
    pub agent: String,
    pub since_round: u64,
}

/// Throttle state: the newest events file's last 100 lines, walked backwards.
pub fn throttle_state(layout: &Layout, now_epoch: i64) -> Option<Throttle> {
    let newest = layout.event_files().pop()?;
    for line in crate::state::events::tail_lines(&newest, 100).iter().rev() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match v.get("event").and_then(Value::as_str) {
            Some("transient_error_recovered") => return None,
            Some("transient_error_detected") => {
                let reset = v
                    .get("reset_at_epoch")
                    .and_then(|x| x.as_f64())
                    .map(|x| x as i64)
                    .unwrap_or(0);
                if reset <= now_epoch {
                    return None;
                }
                return Some(Throttle {
                    reset_at_epoch: reset,
                    classification: v
                        .get("classification")
                        .and_then(Value::as_str)
                        .unwrap_or("rate_limit_account")
                        .to_string(),
                    agent: v
                        .get("agent")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_string(),
                    since_round: v.get("round_num").and_then(Value::as_u64).unwrap_or(0),
                });
            }
            _ => {}
        }
    }
    None
}

/// Base back-off for estimated classes; `None` = use the event's reset time.
pub fn backoff_base_s(classification: &str) -> Option<u64> {
    match classification {
        "rate_limit_model" | "api_transient_5xx" => Some(60),
        "api_timeout" => Some(30),
        _ => None,
    }
}

/// Back-off constants (spec §7.3).
const EXP_CAP: u32 = 5;
const ABS_CAP_S: u64 = 1800;
const DEFENSIVE_CAP_S: u64 = 28_800;

/// `git_head` and `paths_hash` for the substrate events (spec §7.5).
pub fn substrate(cfg: &Config) -> (Option<String>, Option<String>) {
    let head = crate::round::vcs::head(&cfg.runtime.work_dir);
    (
        head,
        paths_hash(
            &cfg.runtime.work_dir,
            &cfg.runtime.substrate_fingerprint_paths,
        ),
    )
}

fn paths_hash(work_dir: &Path, patterns: &[String]) -> Option<String> {
    if patterns.is_empty() {
        return None;
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for p in patterns {
        if Path::new(p).is_absolute() {
            continue;
        }
        let full = work_dir.join(p);
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        if let Ok(paths) = glob::glob_with(&full.to_string_lossy(), opts) {
            for f in paths.flatten().filter(|f| f.is_file()) {
                let f = std::fs::canonicalize(&f).unwrap_or(f);
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
    }
    if files.is_empty() {
        return None;
    }
    files.sort();
    let wd = std::fs::canonicalize(work_dir).unwrap_or_else(|_| work_dir.to_path_buf());
    let mut h = Sha256::new();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let rel = f
            .strip_prefix(&wd)
            .map(Path::to_path_buf)
            .unwrap_or(f.clone());
        h.update(
            format!(
                "{}\n{}\n",
                rel.display(),
                hex::encode(Sha256::digest(&bytes))
            )
            .as_bytes(),
        );
    }
    Some(hex::encode(h.finalize()))
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
    let v = serde_json::json!({"pid": me, "create_time": crate::proc::create_time(me)});
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

/// Run the loop. Returns the exit code.
pub fn serve(cfg: &Config, max_rounds: Option<u64>, once: bool, signals: &Signals) -> CmdResult {
    let layout = Layout::new(&cfg.runtime.log_dir);
    std::fs::create_dir_all(&layout.log_dir).map_err(|e| {
        CliError::failure(format!(
            "cannot create log_dir '{}': {e}",
            layout.log_dir.display()
        ))
    })?;
    let log = EventLog::new(layout.clone());
    let _serve_lock = crate::state::lock::acquire(&layout.serve_lock(), None).map_err(|_| {
        let holder = std::fs::read_to_string(layout.serve_pid()).unwrap_or_default();
        CliError::failure(format!(
            "serve is already running for this project (serve.pid: {}) — use 'agent-runner stop' first",
            holder.trim()
        ))
    })?;
    write_pid_file(&layout).map_err(|e| {
        CliError::failure(format!(
            "cannot write '{}': {e}",
            layout.serve_pid().display()
        ))
    })?;
    let _pid_guard = PidFileGuard(layout.serve_pid());
    let _ = std::fs::remove_file(layout.agent_done());
    prune_round_logs(&layout, cfg.runtime.round_log_retention, &log);

    let exe = crate::proc::self_exe()
        .map_err(|e| CliError::failure(format!("cannot find own executable: {e}")))?;
    let mut rounds_completed: u64 = 0;
    let mut consecutive: u32 = 0;
    let mut backoff_counts: std::collections::HashMap<String, u32> = Default::default();
    let stop_requested = || signals.counts().any();

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
        match throttle_state(&layout, now) {
            Some(t) => match cfg.runtime.transient_error_action {
                TransientErrorAction::Stop => {
                    log.emit_or_warn(
                        Kind::AgentSelfTerminated,
                        fields! {"reason" => "rate_limit"},
                    );
                    break StopCause::RateLimitStop;
                }
                TransientErrorAction::Skip => {}
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
                    let slept = interruptible_sleep(
                        signals,
                        Duration::from_secs_f64(requested.max(0.0)),
                        cfg,
                    );
                    if stop_requested() {
                        break StopCause::Signal;
                    }
                    log.emit_or_warn(
                        Kind::TransientErrorRecovered,
                        fields! {"classification" => t.classification.clone(), "agent" => t.agent.clone(), "throttled_for_s" => slept.as_secs()},
                    );
                }
            },
            None => backoff_counts.clear(),
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
        let rc = run_round_child(&exe, cfg, &layout, round_num, fresh, signals, &log);
        let duration = started.elapsed().as_secs_f64();
        repoint_current(&layout, round_num);
        let (head, ph) = substrate(cfg);
        log.emit_or_warn(
            Kind::RoundSubstrateAfter,
            fields! {"round_num" => round_num, "git_head" => head, "paths_hash" => ph},
        );
        rounds_completed += 1;

        // 7. decide
        let (agent_rc, agent_failed) = match Status::read(&layout.status()) {
            StatusRead::Ok(s) if s.round_num == round_num => {
                let code = s.last_exit_code.unwrap_or(0);
                (code, code != 0)
            }
            _ => (i64::from(rc), rc != 0),
        };
        let throttled = throttle_state(&layout, chrono::Utc::now().timestamp()).is_some();
        let cancelled_by_us = signals.counts().int >= 2 || round_was_cancelled(&layout, round_num);
        match decide(
            rc,
            agent_failed && !cancelled_by_us,
            duration,
            throttled,
            &mut consecutive,
            cfg.runtime.restart_delay_s,
        ) {
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
                eprintln!("agent-runner: crash loop: {consecutive} rounds in a row failed within {SHORT_EXIT_S}s — stopping (see '{}')", layout.log_dir.display());
                break StopCause::CrashLoop;
            }
            Decision::Continue { delay_s } => {
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
    Ok(cause.exit_code())
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

fn crash_reason(layout: &Layout, round_num: u64) -> String {
    let agent_log = layout
        .agent_logs()
        .into_iter()
        .rev()
        .find(|(n, _)| *n == round_num)
        .map(|(_, p)| p);
    let src = agent_log.unwrap_or_else(|| layout.serve_round_log(round_num));
    let text = std::fs::read(&src)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let tail: String = {
        let chars: Vec<char> = text.chars().collect();
        chars[chars.len().saturating_sub(2000)..].iter().collect()
    };
    crate::redact::redact(&tail)
}

fn repoint_current(layout: &Layout, round_num: u64) {
    let tmp = layout.log_dir.join("round-current.log.tmp");
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(format!("round-{round_num}.log"), &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, layout.round_current());
    }
}

/// Keep the newest `keep` `round-<N>.log` files (0 = keep all). A prune that
/// would delete more than it keeps is deferred (0.3's bulk guard).
fn prune_round_logs(layout: &Layout, keep: u64, log: &EventLog) {
    if keep == 0 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(&layout.log_dir) else {
        return;
    };
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("round-") && n.ends_with(".log") && n != "round-current.log"
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if logs.len() as u64 <= keep {
        return;
    }
    logs.sort();
    let would_delete = logs.len() as u64 - keep;
    if would_delete > keep {
        log.emit_or_warn(
            Kind::RoundLogsPruneDeferred,
            fields! {"directory" => layout.log_dir.to_string_lossy(), "existing" => logs.len(), "keep" => keep, "would_delete" => would_delete,
            "hint" => "more files would be deleted than kept; delete old round-*.log files by hand or raise runtime.round_log_retention"},
        );
        return;
    }
    for (_, p) in logs.into_iter().take(would_delete as usize) {
        let _ = std::fs::remove_file(p);
    }
}

/// Spawn `agent-runner --config <cfg> round` in its own session with output to
/// `round-<N>.log`, and wait for it. A second SIGINT (or any SIGTERM after a
/// first SIGINT) asks the round to end its agent now; a round that outlives
/// its outer ceiling is killed with its whole tree.
fn run_round_child(
    exe: &Path,
    cfg: &Config,
    layout: &Layout,
    round_num: u64,
    fresh: bool,
    signals: &Signals,
    log: &EventLog,
) -> i32 {
    let out_path = layout.serve_round_log(round_num);
    let out = match std::fs::File::create(&out_path) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!("cannot create '{}': {e}", out_path.display());
            return exit_code::ENVIRONMENTAL;
        }
    };
    let err = match out.try_clone() {
        Ok(f) => f,
        Err(_) => return exit_code::ENVIRONMENTAL,
    };
    let mut cmd = Command::new(exe);
    cmd.arg("--config")
        .arg(&cfg.path)
        .arg("round")
        .current_dir(&cfg.runtime.work_dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .env("AGENT_RUNNER_LOG_DIR", &layout.log_dir)
        .env("AGENT_RUNNER_ROUND_NUM", round_num.to_string())
        .env("AGENT_RUNNER_FRESH_EYES", if fresh { "1" } else { "0" });
    // SAFETY: setsid is async-signal-safe; the child gets its own session so a
    // terminal's Ctrl-C reaches serve only, and serve decides.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot start round: {e}");
            return exit_code::FAILURE;
        }
    };
    let pid = child.id() as i32;
    let pidfd = crate::signals::pidfd_open(pid);
    let ceiling = Duration::from_secs(cfg.max_budget() + 5 + 15 + 120 + 60);
    let started = Instant::now();
    let mut sent_stop = false;
    let periodic = Duration::from_secs(cfg.runtime.metrics_interval_s.max(1));
    let mut next_sample = Instant::now() + periodic;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return status_code(st);
        }
        let c = signals.counts();
        let urgent = c.int >= 2;
        if urgent && !sent_stop {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            sent_stop = true;
        }
        if started.elapsed() > ceiling {
            log.emit_or_warn(
                Kind::RoundSupervisorWedged,
                fields! {"pid" => pid, "timeout_s" => ceiling.as_secs(), "log_path" => out_path.to_string_lossy()},
            );
            kill_tree(pid);
            let _ = child.wait();
            return 137;
        }
        let wait_for = Duration::from_secs(1)
            .min(next_sample.saturating_duration_since(Instant::now()))
            .max(Duration::from_millis(10));
        let _ = signals.wait(wait_for, pidfd.as_ref().map(|f| f.as_fd()));
        if cfg.runtime.metrics_interval_s > 0 && Instant::now() >= next_sample {
            next_sample = Instant::now() + periodic;
            let s = crate::state::metrics::sample(&layout.log_dir);
            let _ = crate::state::metrics::append(
                layout,
                "periodic",
                s.to_fields(None, Some(round_num), None),
            );
        }
    }
}

fn status_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// SIGKILL a process, its group, and every descendant's group.
pub fn kill_tree(pid: i32) {
    use nix::sys::signal::{kill, killpg, Signal};
    use nix::unistd::Pid;
    let desc = crate::proc::descendants(pid);
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    for d in desc {
        let _ = killpg(Pid::from_raw(d.pgid), Signal::SIGKILL);
        let _ = kill(Pid::from_raw(d.pid), Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_counts_fast_agent_failures() {
        let mut c = 0;
        for i in 1..CRASH_LOOP_THRESHOLD {
            assert_eq!(
                decide(0, true, 1.0, false, &mut c, 3),
                Decision::Continue {
                    delay_s: 3 * (1 << i)
                }
            );
        }
        assert_eq!(decide(0, true, 1.0, false, &mut c, 3), Decision::CrashLoop);
    }

    #[test]
    fn long_or_throttled_or_clean_rounds_reset_the_counter() {
        let mut c = 3;
        assert_eq!(
            decide(0, true, 120.0, false, &mut c, 3),
            Decision::Continue { delay_s: 6 }
        );
        assert_eq!(c, 0);
        c = 3;
        assert_eq!(
            decide(0, false, 1.0, false, &mut c, 3),
            Decision::Continue { delay_s: 3 }
        );
        assert_eq!(c, 0);
        c = 3;
        assert_eq!(
            decide(0, true, 1.0, true, &mut c, 3),
            Decision::Continue { delay_s: 6 }
        );
        assert_eq!(
            decide(78, false, 1.0, false, &mut c, 3),
            Decision::ConfigBroken
        );
        assert_eq!(
            decide(0, true, 1.0, false, &mut c, 0),
            Decision::Continue { delay_s: 0 }
        );
    }

    #[test]
    fn base_table() {
        assert_eq!(backoff_base_s("rate_limit_model"), Some(60));
        assert_eq!(backoff_base_s("api_timeout"), Some(30));
        assert_eq!(backoff_base_s("rate_limit_account"), None);
    }
}
