//! Spawning the agent and bounding it: own process group, stdin from
//! `/dev/null` or a prompt pipe written off-thread, output to the round log,
//! exit awaited (not polled), the wall-clock budget enforced with
//! TERM → grace → KILL to the whole group, descendants that escaped with
//! `setsid` found and killed, grace-after-result, progress heartbeats.
//!
//! It knows nothing of events or config files: the caller maps observations
//! and the outcome to events.
//!
//! After the agent exits, for any reason, what is left of its tree (its
//! session and group, and — when the round is a child subreaper — every
//! orphan re-parented to it) gets SIGTERM → grace → SIGKILL before `run`
//! returns (`Outcome::escaped_killed`).
//!
//! Submodules: `stop` (the sticky stop, a view on `sys::signals`), `reap`
//! (waits for the leader, descendants, the kill ladder, the leftovers
//! sweep), `logscan` (incremental marker search), `cause` (exit
//! classification), `tick` (the periodic check of the memory floor).
//!
//! The caller may also hand in an [`OutputWatch`] (`watch`; what the agent's
//! output means is the caller's knowledge): polled once a second, it can end
//! the round early ("needs a human", "the network is down"), and a retry it
//! saw after the terminal marker re-arms grace-after-result.

mod cause;
mod logscan;
mod reap;
mod stop;
mod tick;
mod watch;

pub use cause::{exit_cause, exit_signal_name, signal_name};
pub use stop::{install_stop_handlers, StopSignal};
pub use tick::{NoTicks, TickVerdict, Ticker, MEM_TERM_GRACE};
pub use watch::{OutputWatch, SharedWatch};

use crate::sys::spawn::{exited_unreaped, pidfd_open, poll_readable, SpawnExt};
use nix::sys::signal::Signal;
use regex::Regex;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// What to run.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub argv: Vec<String>,
    /// Variables set on top of the inherited environment, in order.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// `None` → stdin is `/dev/null`; `Some(bytes)` → piped from a thread.
    pub stdin: Option<Vec<u8>>,
    /// stdout + stderr go here (truncated).
    pub log_path: PathBuf,
}

/// How long it may run and how it is stopped.
#[derive(Debug, Clone)]
pub struct WaitPolicy {
    /// Wall-clock hard wall.
    pub budget: Duration,
    /// Grace between SIGTERM and SIGKILL (5 s upstream).
    pub term_grace: Duration,
    /// Substring in the log that marks the result (empty: no scan).
    pub terminal_marker: String,
    /// Kill this long after the marker was seen if no live worker remains (None: off).
    pub grace_after_result: Option<Duration>,
    /// Descendants whose cmdline matches one of these are not live workers.
    pub grace_ignore: Vec<Regex>,
    /// Heartbeat period (None: off).
    pub progress_interval: Option<Duration>,
    /// First signal of a requested stop (the preset's cooperative stop:
    /// SIGTERM, or SIGINT for claude). Budget and grace kills always use SIGTERM.
    pub stop_signal: Signal,
    /// Grace between the stop signal and SIGKILL (capped at [`MAX_STOP_GRACE`]).
    pub stop_grace: Duration,
    /// Polled once a second; may end the round early (None: off).
    pub watch: Option<SharedWatch>,
}

/// Upstream's SIGTERM → SIGKILL grace.
pub const DEFAULT_TERM_GRACE: Duration = Duration::from_secs(5);
/// Upper bound for `stop_grace`, so a stop always completes inside a
/// service manager's stop timeout.
pub const MAX_STOP_GRACE: Duration = Duration::from_secs(12);
/// Upstream's default terminal marker (compact JSON, no space).
pub const DEFAULT_TERMINAL_MARKER: &str = "\"type\":\"result\"";
/// How often the log is scanned for the marker (upstream: 1 s).
const MARKER_SCAN_INTERVAL: Duration = Duration::from_secs(1);
/// How often the live-children check repeats after a grace extension.
const GRACE_RECHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Poll cap when no pidfd is available.
const FALLBACK_TICK: Duration = Duration::from_millis(100);
/// Most children named in a grace event, per list.
const MAX_LISTED_CHILDREN: usize = 5;

impl WaitPolicy {
    /// Upstream defaults around `budget`: 5 s TERM grace, the default marker,
    /// no grace-after-result, no heartbeat, SIGTERM stop with a 5 s grace.
    pub fn with_budget(budget: Duration) -> Self {
        WaitPolicy {
            budget,
            term_grace: DEFAULT_TERM_GRACE,
            terminal_marker: DEFAULT_TERMINAL_MARKER.to_string(),
            grace_after_result: None,
            grace_ignore: Vec::new(),
            progress_interval: None,
            stop_signal: Signal::SIGTERM,
            stop_grace: DEFAULT_TERM_GRACE,
            watch: None,
        }
    }
}

/// A process named in an event: basename of argv[0] (or comm) and pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    pub name: String,
    pub pid: i32,
    /// The ignore pattern it matched, if any.
    pub matched: Option<String>,
}

/// Something that happened while the agent ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Progress {
        log_size_kb: u64,
        last_write_age_s: u64,
        wall_age_s: u64,
    },
    GraceExtended {
        grace_s: u64,
        live: Vec<ChildInfo>,
        ignored: Vec<ChildInfo>,
    },
}

/// How the agent ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Exit code, or `-signum` if killed by a signal (Python convention).
    pub exit_code: i32,
    pub duration: Duration,
    /// Killed by the budget or the grace timer.
    pub timed_out: bool,
    pub grace_killed: bool,
    /// Ended because the round process was asked to stop.
    pub cancelled: bool,
    /// Ended early because the [`OutputWatch`] said so: its `exit_cause`.
    pub ended_by: Option<&'static str>,
    /// Descendants outside the group (escaped via setsid) that we killed,
    /// and what was left of the tree after the agent exited.
    pub escaped_killed: Vec<ChildInfo>,
    /// The agent's pid (= its process group and session id).
    pub pid: i32,
    /// Ended by the memory floor ([`TickVerdict::Terminate`]).
    pub mem_terminated: bool,
}

/// Why the agent could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("the agent command is empty; set [agent] command in the config")]
    EmptyArgv,
    #[error("the agent working directory '{0}' is not a directory; check [runtime] work_dir")]
    BadCwd(String),
    #[error("could not open the round log '{path}': {source}; check that log_dir is writable")]
    Log {
        path: String,
        source: std::io::Error,
    },
    #[error("could not start the agent '{program}': {source}; check [agent] command and PATH")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

/// Spawn the agent per `spec` and wait for it under `policy`, reporting
/// heartbeats and grace extensions to `on_obs`. Returns once the agent has
/// exited (and was reaped) or was killed with its whole tree: by the budget,
/// by the grace-after-result timer, or because `stop` was requested.
pub fn run(
    spec: &SpawnSpec,
    policy: &WaitPolicy,
    stop: &StopSignal,
    on_obs: &mut dyn FnMut(Observation),
) -> Result<Outcome, ProcessError> {
    run_inner(spec, policy, stop, on_obs, &mut NoTicks, true)
}

/// [`run`] with a [`Ticker`] consulted every [`Ticker::every`] while the
/// agent runs (the memory floor).
pub fn run_ticked(
    spec: &SpawnSpec,
    policy: &WaitPolicy,
    stop: &StopSignal,
    on_obs: &mut dyn FnMut(Observation),
    ticker: &mut dyn Ticker,
) -> Result<Outcome, ProcessError> {
    run_inner(spec, policy, stop, on_obs, ticker, true)
}

/// [`run`], optionally without a pidfd (the fallback path, for tests).
fn run_inner(
    spec: &SpawnSpec,
    policy: &WaitPolicy,
    stop: &StopSignal,
    on_obs: &mut dyn FnMut(Observation),
    ticker: &mut dyn Ticker,
    use_pidfd: bool,
) -> Result<Outcome, ProcessError> {
    let mut child = spawn(spec)?;
    let start = Instant::now();
    // Linux pids are < 2^22, so this cannot wrap.
    let pid = child.id() as i32;
    // If anything below unwinds (a panicking observer), the tree must not
    // outlive us.
    let mut guard = TreeGuard { pid, armed: true };
    if let (Some(bytes), Some(mut pipe)) = (spec.stdin.clone(), child.stdin.take()) {
        // Off-thread so a full pipe never blocks the budget; EPIPE (the agent
        // never reads, or died) ends the thread. Not joined: killing the
        // agent closes the read end, which unblocks it.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(&bytes);
        });
    }
    let pidfd = if use_pidfd { pidfd_open(pid) } else { None };
    let mut waiter = Waiter::new(spec, policy, start);
    let mut ticks = tick::Schedule::new(ticker, start);

    let end = loop {
        let wake = waiter.next_wake(Instant::now());
        let wake = ticks.next().map_or(wake, |t| wake.min(t));
        let timeout = wake.saturating_duration_since(Instant::now());
        let timeout = if pidfd.is_some() {
            timeout
        } else {
            timeout.min(FALLBACK_TICK)
        };
        // Which fd woke us does not matter: every condition is re-checked.
        let fds = [pidfd.as_ref().map(|f| f.as_fd()), Some(stop.wake_fd())];
        let _ = poll_readable(&fds, timeout);

        // 1. exited (wins ties)
        if exited_unreaped(pid) {
            let status = reap_child(&mut child);
            break End::Exited(status);
        }
        let now = Instant::now();
        // 2. budget
        if now.duration_since(start) >= policy.budget {
            break End::Kill {
                first: Signal::SIGTERM,
                grace: policy.term_grace,
                why: Why::Budget,
            };
        }
        // stop requested by the round process
        if stop.is_requested() {
            let grace = policy.stop_grace.min(MAX_STOP_GRACE);
            break End::Kill {
                first: policy.stop_signal,
                grace,
                why: Why::Stop,
            };
        }
        // 3. the output watch: ends the round when the agent waits for a human
        if let Some(cause) = waiter.watch_due(now) {
            break End::Kill {
                first: Signal::SIGTERM,
                grace: policy.term_grace,
                why: Why::Watch(cause),
            };
        }
        // 4. the memory floor
        if ticks.due(now) {
            match ticker.tick(pid) {
                TickVerdict::Continue => {}
                TickVerdict::Nudge => {
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
                }
                TickVerdict::Terminate => {
                    break End::Kill {
                        first: Signal::SIGTERM,
                        grace: MEM_TERM_GRACE,
                        why: Why::Memory,
                    }
                }
            }
        }
        // 5. grace after result
        if waiter.grace_due(now, pid, on_obs) {
            break End::Kill {
                first: Signal::SIGTERM,
                grace: policy.term_grace,
                why: Why::Grace,
            };
        }
        // 6. heartbeat
        waiter.progress(now, on_obs);
    };

    guard.armed = false;
    let mut outcome = Outcome {
        exit_code: -1,
        duration: Duration::ZERO,
        timed_out: false,
        grace_killed: false,
        cancelled: false,
        ended_by: None,
        escaped_killed: Vec::new(),
        pid,
        mem_terminated: false,
    };
    match end {
        End::Exited(status) => outcome.exit_code = status.map_or(-1, python_code),
        End::Kill { first, grace, why } => {
            outcome.escaped_killed = reap::kill_tree(pid, pidfd.as_ref(), first, grace);
            let status = if exited_unreaped(pid) {
                reap_child(&mut child)
            } else {
                None // unkillable (D state): left for the OS; reported as -1
            };
            outcome.exit_code = status.map_or(-1, python_code);
            outcome.timed_out = matches!(why, Why::Budget | Why::Grace);
            outcome.grace_killed = matches!(why, Why::Grace);
            outcome.cancelled = matches!(why, Why::Stop);
            if let Why::Watch(cause) = why {
                outcome.ended_by = Some(cause);
            }
            outcome.mem_terminated = matches!(why, Why::Memory);
        }
    }
    outcome.duration = start.elapsed();
    // Whatever the agent left behind dies now, before the caller looks at
    // the work tree.
    for c in reap::sweep_leftovers(pid, policy.term_grace) {
        if !outcome.escaped_killed.iter().any(|e| e.pid == c.pid) {
            outcome.escaped_killed.push(c);
        }
    }
    Ok(outcome)
}

/// Kills the agent's tree if `run` unwinds before deciding how it ended.
struct TreeGuard {
    pid: i32,
    armed: bool,
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        if self.armed {
            reap::kill_tree(self.pid, None, Signal::SIGKILL, Duration::ZERO);
        }
    }
}

enum Why {
    Budget,
    Grace,
    Stop,
    Watch(&'static str),
    Memory,
}

enum End {
    Exited(Option<ExitStatus>),
    Kill {
        first: Signal,
        grace: Duration,
        why: Why,
    },
}

/// Exit code in the Python convention: `-signum` for a signal death.
fn python_code(st: ExitStatus) -> i32 {
    match (st.code(), st.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => -sig,
        (None, None) => -1,
    }
}

fn reap_child(child: &mut Child) -> Option<ExitStatus> {
    child.wait().ok()
}

fn spawn(spec: &SpawnSpec) -> Result<Child, ProcessError> {
    let Some(program) = spec.argv.first() else {
        return Err(ProcessError::EmptyArgv);
    };
    if !spec.cwd.is_dir() {
        return Err(ProcessError::BadCwd(spec.cwd.display().to_string()));
    }
    if let Some(parent) = spec.log_path.parent() {
        if !parent.as_os_str().is_empty() {
            crate::state::layout::create_dirs(parent).map_err(|source| ProcessError::Log {
                path: spec.log_path.display().to_string(),
                source,
            })?;
        }
    }
    let log_err = |source| ProcessError::Log {
        path: spec.log_path.display().to_string(),
        source,
    };
    let log = crate::state::layout::create_private(&spec.log_path).map_err(log_err)?;
    let mut cmd = Command::new(program);
    cmd.output_to(log).map_err(log_err)?;
    cmd.args(&spec.argv[1..])
        .current_dir(&spec.cwd)
        .env("PWD", &spec.cwd)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.own_session();
    cmd.spawn().map_err(|source| ProcessError::Spawn {
        program: program.clone(),
        source,
    })
}

/// The timers of one wait: heartbeat, marker scan, grace-after-result.
struct Waiter<'a> {
    policy: &'a WaitPolicy,
    log_path: PathBuf,
    start: Instant,
    next_progress: Option<Instant>,
    scan: Option<logscan::MarkerScan>,
    next_scan: Instant,
    result_seen: Option<Instant>,
    next_grace_check: Option<Instant>,
    extended: bool,
    next_watch: Instant,
}

impl<'a> Waiter<'a> {
    fn new(spec: &SpawnSpec, policy: &'a WaitPolicy, start: Instant) -> Self {
        let grace_on = policy.grace_after_result.is_some() && !policy.terminal_marker.is_empty();
        Waiter {
            policy,
            log_path: spec.log_path.clone(),
            start,
            next_progress: policy
                .progress_interval
                .filter(|d| !d.is_zero())
                .map(|d| start + d),
            scan: grace_on
                .then(|| logscan::MarkerScan::new(&spec.log_path, &policy.terminal_marker)),
            next_scan: start + MARKER_SCAN_INTERVAL,
            result_seen: None,
            next_grace_check: None,
            extended: false,
            next_watch: start + MARKER_SCAN_INTERVAL,
        }
    }

    /// The earliest moment something needs attention.
    fn next_wake(&self, now: Instant) -> Instant {
        let mut t = self.start + self.policy.budget;
        if let Some(p) = self.next_progress {
            t = t.min(p);
        }
        if self.scan.is_some() && self.result_seen.is_none() {
            t = t.min(self.next_scan);
        }
        if let Some(g) = self.next_grace_check {
            t = t.min(g);
        }
        if self.policy.watch.is_some() {
            t = t.min(self.next_watch);
        }
        t.max(now)
    }

    /// Scan for the marker when due; once the grace has elapsed since it was
    /// seen, true if no live worker remains (kill now). With live workers,
    /// report `GraceExtended` once and keep checking.
    fn grace_due(&mut self, now: Instant, pid: i32, on_obs: &mut dyn FnMut(Observation)) -> bool {
        let (Some(scan), Some(grace)) = (self.scan.as_mut(), self.policy.grace_after_result) else {
            return false;
        };
        if self.result_seen.is_none() && now >= self.next_scan {
            self.next_scan = now + MARKER_SCAN_INTERVAL;
            if scan.scan() {
                self.result_seen = Some(now);
                self.next_grace_check = Some(now + grace);
            }
        }
        let Some(check) = self.next_grace_check else {
            return false;
        };
        if now < check {
            return false;
        }
        if self.retried_after_marker(now) {
            return false;
        }
        let (live, ignored) =
            reap::live_children(pid, &self.policy.grace_ignore, MAX_LISTED_CHILDREN);
        if live.is_empty() {
            return true;
        }
        if !self.extended {
            self.extended = true;
            on_obs(Observation::GraceExtended {
                grace_s: grace.as_secs(),
                live,
                ignored,
            });
        }
        self.next_grace_check = Some(now + GRACE_RECHECK_INTERVAL);
        false
    }

    fn progress(&mut self, now: Instant, on_obs: &mut dyn FnMut(Observation)) {
        let (Some(due), Some(every)) = (self.next_progress, self.policy.progress_interval) else {
            return;
        };
        if now < due {
            return;
        }
        let (log_size_kb, last_write_age_s) = match std::fs::metadata(&self.log_path) {
            Ok(m) => {
                let age = m
                    .modified()
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .map_or(0, |d| d.as_secs());
                (m.len() / 1024, age)
            }
            Err(_) => (0, 0),
        };
        on_obs(Observation::Progress {
            log_size_kb,
            last_write_age_s,
            wall_age_s: now.duration_since(self.start).as_secs(),
        });
        self.next_progress = Some(now + every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &std::path::Path, body: &str) -> SpawnSpec {
        SpawnSpec {
            argv: vec!["bash".into(), "-c".into(), body.into()],
            env: Vec::new(),
            cwd: dir.to_path_buf(),
            stdin: None,
            log_path: dir.join("round.log"),
        }
    }

    #[test]
    fn fallback_without_pidfd_sees_exit_and_enforces_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let stop = StopSignal::new().unwrap();
        let mut p = WaitPolicy::with_budget(Duration::from_secs(60));
        let out = run_inner(
            &spec(dir.path(), "exit 7"),
            &p,
            &stop,
            &mut |_| {},
            &mut NoTicks,
            false,
        )
        .unwrap();
        assert_eq!((out.exit_code, out.timed_out), (7, false));

        p.budget = Duration::from_secs(1);
        p.term_grace = Duration::from_secs(1);
        let s = spec(dir.path(), "echo $$ > pid; exec sleep 1000");
        let out = run_inner(&s, &p, &stop, &mut |_| {}, &mut NoTicks, false).unwrap();
        assert!(out.timed_out);
        assert_eq!(out.exit_code, -15);
        assert!(out.duration < Duration::from_secs(20), "{:?}", out.duration);
    }

    #[test]
    fn panicking_observer_does_not_orphan_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let stop = StopSignal::new().unwrap();
        let mut p = WaitPolicy::with_budget(Duration::from_secs(60));
        p.progress_interval = Some(Duration::from_secs(1));
        let s = spec(dir.path(), "echo $$ > pid; exec sleep 1000");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(&s, &p, &stop, &mut |_| panic!("observer failed"))
        }));
        assert!(r.is_err());
        let pid: i32 = std::fs::read_to_string(dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            !crate::sys::proc::alive(pid),
            "{:?}",
            crate::sys::proc::stat(pid)
        );
    }
}
