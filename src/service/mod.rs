//! Service lifecycle: `install`/`uninstall` (systemd units), `start`, `stop`,
//! `kill`, `cancel`, `restart`, `status`. With systemd units present the verbs
//! drive systemd; without, `start` spawns a detached `serve` and the pid file
//! (pid + start-time token) drives the rest (spec §8, §12; 0.3 delta §12).
//!
//! Nothing here signals a pid without first proving, by its start time, that
//! it is still the process that wrote the record, and every signal goes
//! through a pidfd opened before that proof
//! ([`crate::sys::spawn::signal_checked`]), so a pid recycled in between is
//! never signalled.

pub mod pidfile;
pub mod systemd;

use crate::config::Config;
use crate::state::Layout;
use crate::sys::spawn::signal_checked;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Grace between SIGTERM and SIGKILL for `kill`.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// How the project's serve is managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    SystemdUser,
    SystemdSystem,
    PidFile,
    None,
}

impl Mode {
    /// The systemd scope of a systemd mode.
    pub fn scope(self) -> Option<systemd::Scope> {
        match self {
            Mode::SystemdUser => Some(systemd::Scope::User),
            Mode::SystemdSystem => Some(systemd::Scope::System),
            _ => None,
        }
    }

    /// The spelling of `status --json`'s `mode`: upstream's `systemd_user`,
    /// `pid_file` and `none`, and ours, `systemd_system` (upstream reports a
    /// system unit only as `system_managed: true`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::SystemdUser => "systemd_user",
            Mode::SystemdSystem => "systemd_system",
            Mode::PidFile => "pid_file",
            Mode::None => "none",
        }
    }
}

/// Why a service verb failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// `systemctl` failed (its message).
    #[error("{0}")]
    Systemctl(String),
    #[error("{0}")]
    PidFile(#[from] pidfile::CorruptPidFile),
    #[error("serve is already running (pid {0}); use 'agent-runner restart' to restart it")]
    AlreadyRunning(i32),
    /// The detached serve could not be started (its message).
    #[error("{0}")]
    Spawn(String),
    #[error("serve (pid {pid}) did not stop within {secs}s; use 'agent-runner kill'")]
    StopTimeout { pid: i32, secs: u64 },
    #[error("could not end processes {0:?} (in uninterruptible sleep?); check 'ps -o pid,stat,cmd -p …'")]
    Unkillable(Vec<i32>),
    #[error("no round is running for this project; nothing to cancel")]
    NoRound,
    #[error("cannot signal {what} (pid {pid}): {source}; check who owns it with 'ps -o pid,user,cmd -p {pid}'")]
    Signal {
        what: &'static str,
        pid: i32,
        source: std::io::Error,
    },
}

/// The mode in force for `cfg`: a unit file decides, else the pid file.
pub fn mode(cfg: &Config) -> Mode {
    mode_of(&cfg.project, &cfg.runtime.log_dir)
}

/// [`mode`] from the two things it needs: the project name and its log_dir.
pub fn mode_of(project: &str, log_dir: &std::path::Path) -> Mode {
    if systemd::unit_path(project, systemd::Scope::User).is_some_and(|p| p.exists()) {
        Mode::SystemdUser
    } else if systemd::unit_path(project, systemd::Scope::System).is_some_and(|p| p.exists()) {
        Mode::SystemdSystem
    } else if Layout::new(log_dir).serve_pid().exists() {
        Mode::PidFile
    } else {
        Mode::None
    }
}

/// The live `serve` of this project, proven by the pid file's token.
fn live_serve(layout: &Layout) -> Result<Option<pidfile::PidRecord>, ServiceError> {
    Ok(pidfile::read(&layout.serve_pid())?.filter(|r| r.is_live()))
}

/// The live `round` of this project, from the lock holder sidecar.
fn live_round(layout: &Layout) -> Option<crate::state::lock::Holder> {
    let h = crate::state::lock::read_holder(&layout.lock_holder())?;
    round_is_live(&h).then_some(h)
}

/// True only if the sidecar's pid is alive and is the round that wrote it.
fn round_is_live(h: &crate::state::lock::Holder) -> bool {
    match h.create_time {
        Some(t) => crate::sys::proc::same_process(h.pid, t),
        None => {
            crate::sys::proc::alive(h.pid)
                && crate::sys::proc::cmdline(h.pid).is_some_and(|c| c.contains("round"))
        }
    }
}

fn wait_gone(pids: &[i32], timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if pids.iter().all(|p| !crate::sys::proc::alive(*p)) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What `start` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// `systemctl start` of the unit, in this mode.
    Systemd { mode: Mode, unit: String },
    /// A detached `serve` with a pid file.
    PidFile { pid: i32, log_dir: PathBuf },
}

/// Start the project's serve: through systemd when a unit is installed, else
/// as a detached process with a pid file.
pub fn start(cfg: &Config) -> Result<Started, ServiceError> {
    let layout = Layout::new(&cfg.runtime.log_dir);
    let m = mode(cfg);
    match m.scope() {
        Some(scope) => {
            let unit = systemd::unit_name(&cfg.project);
            systemd::systemctl(scope, &["start", &unit]).map_err(ServiceError::Systemctl)?;
            Ok(Started::Systemd { mode: m, unit })
        }
        None => {
            if let Some(r) = live_serve(&layout)? {
                return Err(ServiceError::AlreadyRunning(r.pid));
            }
            let pid = pidfile::spawn_detached_serve(cfg).map_err(ServiceError::Spawn)?;
            Ok(Started::PidFile {
                pid,
                log_dir: layout.log_dir,
            })
        }
    }
}

/// What `stop` did.
#[derive(Debug, Clone, PartialEq)]
pub enum StopResult {
    /// `systemctl stop`, in this mode.
    Systemd { mode: Mode },
    /// No serve was running.
    NotRunning { mode: Mode },
    /// The pid-file serve stopped after SIGTERM.
    PidFile { pid: i32, elapsed_s: f64 },
}

/// Graceful stop: the current round finishes first. `stopping(pid)` is
/// called before waiting for a pid-file serve, which can take a whole round.
pub fn stop(cfg: &Config, stopping: &mut dyn FnMut(i32)) -> Result<StopResult, ServiceError> {
    let layout = Layout::new(&cfg.runtime.log_dir);
    let m = mode(cfg);
    if let Some(scope) = m.scope() {
        systemd::systemctl(scope, &["stop", &systemd::unit_name(&cfg.project)])
            .map_err(ServiceError::Systemctl)?;
        return Ok(StopResult::Systemd { mode: m });
    }
    let Some(r) = live_serve(&layout)? else {
        return Ok(StopResult::NotRunning { mode: m });
    };
    let t = Instant::now();
    let sent = r
        .signal(Signal::SIGTERM)
        .map_err(|source| ServiceError::Signal {
            what: "serve",
            pid: r.pid,
            source,
        })?;
    if !sent {
        // It ended between the pid-file check and the signal.
        return Ok(StopResult::NotRunning { mode: m });
    }
    stopping(r.pid);
    let timeout = Duration::from_secs(cfg.max_budget() + cfg.goal_allowance_s() + 60);
    if !wait_gone(&[r.pid], timeout) {
        return Err(ServiceError::StopTimeout {
            pid: r.pid,
            secs: timeout.as_secs(),
        });
    }
    Ok(StopResult::PidFile {
        pid: r.pid,
        elapsed_s: t.elapsed().as_secs_f64(),
    })
}

/// Every process of this project: serve, the round, the agent's group, and
/// anything that carries the project's `AGENT_RUNNER_LOG_DIR`.
fn project_tree(
    layout: &Layout,
    serve: Option<i32>,
    round: Option<i32>,
) -> Vec<crate::sys::proc::Stat> {
    let me = std::process::id() as i32;
    let mut v: Vec<crate::sys::proc::Stat> = Vec::new();
    let mut add = |s: crate::sys::proc::Stat| {
        if s.pid != me && !v.iter().any(|x| x.pid == s.pid) {
            v.push(s);
        }
    };
    for root in [serve, round].into_iter().flatten() {
        if let Some(s) = crate::sys::proc::stat(root) {
            add(s);
        }
        for d in crate::sys::proc::descendants(root) {
            add(d);
        }
    }
    for s in crate::sys::proc::with_env("AGENT_RUNNER_LOG_DIR", &layout.log_dir.to_string_lossy()) {
        add(s);
    }
    v
}

fn terminate_tree(tree: &[crate::sys::proc::Stat], grace: Duration) -> Vec<i32> {
    let tokens: Vec<(i32, u64)> = tree.iter().map(|s| (s.pid, s.start_ticks)).collect();
    let still = |pid: i32, ticks: u64| {
        crate::sys::proc::stat(pid).is_some_and(|s| s.start_ticks == ticks && s.state != 'Z')
    };
    for (p, t) in &tokens {
        let _ = signal_checked(*p, Signal::SIGTERM, || still(*p, *t));
    }
    let end = Instant::now() + grace;
    while Instant::now() < end && tokens.iter().any(|(p, t)| still(*p, *t)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (p, t) in &tokens {
        // The group first: its leader is proven alive by start time, and a
        // group id cannot be handed out again while its leader or a member
        // lives. Then the process itself, through its pidfd.
        if still(*p, *t) {
            let _ = killpg(Pid::from_raw(*p), Signal::SIGKILL);
        }
        let _ = signal_checked(*p, Signal::SIGKILL, || still(*p, *t));
    }
    let _ = wait_gone(
        &tokens.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        Duration::from_secs(2),
    );
    tokens
        .iter()
        .filter(|(p, t)| still(*p, *t))
        .map(|(p, _)| *p)
        .collect()
}

/// What `kill` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Killed {
    /// Processes signalled.
    pub count: usize,
    pub serve_pid: Option<i32>,
    pub round_pid: Option<i32>,
}

/// SIGTERM, grace, SIGKILL to serve, the round, the agent's group and every
/// process that carries the project's log_dir.
pub fn kill_all(cfg: &Config) -> Result<Killed, ServiceError> {
    let layout = Layout::new(&cfg.runtime.log_dir);
    let m = mode(cfg);
    if let Some(scope) = m.scope() {
        let unit = systemd::unit_name(&cfg.project);
        let _ = systemd::systemctl(scope, &["kill", "--signal=SIGTERM", &unit]);
        std::thread::sleep(KILL_GRACE);
        let _ = systemd::systemctl(scope, &["kill", "--signal=SIGKILL", &unit]);
    }
    let serve = live_serve(&layout)?.map(|r| r.pid);
    let round = live_round(&layout).map(|h| h.pid);
    let tree = project_tree(&layout, serve, round);
    let n = tree.len();
    let left = terminate_tree(&tree, KILL_GRACE);
    if !left.is_empty() {
        return Err(ServiceError::Unkillable(left));
    }
    let _ = std::fs::remove_file(layout.serve_pid());
    Ok(Killed {
        count: n,
        serve_pid: serve,
        round_pid: round,
    })
}

/// End the current round now (the loop goes on); returns the round's pid.
pub fn cancel(cfg: &Config) -> Result<i32, ServiceError> {
    let layout = Layout::new(&cfg.runtime.log_dir);
    let h = live_round(&layout).ok_or(ServiceError::NoRound)?;
    let sent = signal_checked(h.pid, Signal::SIGTERM, || round_is_live(&h)).map_err(|source| {
        ServiceError::Signal {
            what: "the round",
            pid: h.pid,
            source,
        }
    })?;
    if !sent {
        // It ended between the sidecar check and the signal.
        return Ok(h.pid);
    }
    let grace = KILL_GRACE + Duration::from_secs(10);
    if !wait_gone(&[h.pid], grace) {
        let tree = project_tree(&layout, None, Some(h.pid));
        terminate_tree(&tree, Duration::from_secs(1));
    }
    Ok(h.pid)
}

/// The service state `status` reports.
#[derive(Debug, Clone)]
pub struct ServiceStatus {
    pub project: String,
    pub mode: Mode,
    pub active: bool,
    pub pid: Option<i32>,
    pub uptime_s: Option<f64>,
    pub unit_file: Option<String>,
    /// The system unit `/etc/systemd/system/agent-runner@<project>.service` exists.
    pub system_managed: bool,
    pub throttle: Option<crate::serve::Throttle>,
    /// Agents whose throttle is still in force, sorted.
    pub throttled_agents: Vec<String>,
    /// The round running now, if one is.
    pub current_round: Option<u64>,
    pub current_round_age_s: Option<i64>,
    /// status.json's last round.
    pub last: Option<crate::state::status::Status>,
    pub last_exit_cause: Option<String>,
    /// serve.pid names a process that is gone.
    pub stale_pid_file: bool,
    /// No log_dir and no status.json: the project never ran.
    pub never_ran: bool,
}

impl ServiceStatus {
    /// The `status --json` document: the Python tool's keys in its order
    /// (`mode`, `active`, `pid`, `uptime_s`, `unit_file`, `rate_limit`,
    /// `system_managed`), then ours. upstream's `status` leaves `rate_limit`
    /// null and peek fills it; ours fills it with peek's keys.
    pub fn to_json(&self) -> Value {
        let st = self.last.as_ref();
        json!({
            "mode": self.mode.as_str(),
            "active": self.active,
            "pid": self.pid,
            "uptime_s": self.uptime_s.map(|u| (u * 10.0).round() / 10.0),
            "unit_file": self.unit_file,
            "rate_limit": self.throttle.as_ref().map(|t| rate_limit_json(t, &self.throttled_agents)),
            "system_managed": self.system_managed,
            "current_round": self.current_round,
            "current_round_age_s": self.current_round_age_s,
            "last_round": st.map(|s| s.round_num),
            "last_exit_code": st.and_then(|s| s.last_exit_code),
            "last_exit_cause": self.last_exit_cause,
            "stale_pid_file": self.stale_pid_file,
            "never_ran": self.never_ran,
        })
    }
}

/// A throttle as `status --json` and peek's `service.rate_limit` show it:
/// upstream's keys (`throttled_until_epoch`, `limit_type`, `agent`,
/// `since_round`, `phase`, `throttled_agents`), then ours (`reset_at_epoch`,
/// `classification`, the same values under the event's own names).
pub fn rate_limit_json(t: &crate::serve::Throttle, throttled_agents: &[String]) -> Value {
    json!({
        "throttled_until_epoch": t.reset_at_epoch,
        "limit_type": t.classification,
        "agent": t.agent,
        "since_round": t.since_round,
        "phase": t.phase,
        "throttled_agents": throttled_agents,
        "reset_at_epoch": t.reset_at_epoch,
        "classification": t.classification,
    })
}

/// True when the project has a system unit (`status`'s `system_managed`).
pub fn system_managed(project: &str) -> bool {
    systemd::unit_path(project, systemd::Scope::System).is_some_and(|p| p.exists())
}

/// Read the service state: systemd's view when a unit is installed, else the
/// pid file's, plus the round in progress and the last one's outcome.
pub fn status(cfg: &Config) -> Result<ServiceStatus, ServiceError> {
    let layout = Layout::new(&cfg.runtime.log_dir);
    let m = mode(cfg);
    let rec = pidfile::read(&layout.serve_pid())?;
    let (active, pid, uptime) = match m.scope() {
        Some(scope) => {
            let props = systemd::show(scope, &systemd::unit_name(&cfg.project));
            let active = props.get("ActiveState").is_some_and(|s| s == "active");
            let pid = props
                .get("MainPID")
                .and_then(|p| p.parse::<i32>().ok())
                .filter(|p| *p > 0);
            (active, pid, pid.and_then(crate::sys::proc::age_s))
        }
        None => match rec.as_ref().filter(|r| r.is_live()) {
            Some(r) => (true, Some(r.pid), crate::sys::proc::age_s(r.pid)),
            None => (false, None, None),
        },
    };
    let stale = rec.as_ref().is_some_and(|r| !r.is_live());
    let st = match crate::state::status::Status::read(&layout.status()) {
        crate::state::status::StatusRead::Ok(s) => Some(s),
        _ => None,
    };
    let round = live_round(&layout);
    let round_age = round
        .as_ref()
        .and_then(|h| h.started_at.as_deref())
        .and_then(crate::timefmt::parse_ts)
        .map(|t| (chrono::Utc::now() - t).num_seconds());
    let last_cause = crate::state::events::tail_lines(
        layout
            .event_files()
            .last()
            .map(|p| p.as_path())
            .unwrap_or(std::path::Path::new("")),
        200,
    )
    .iter()
    .rev()
    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    .find(|e| e.get("event").and_then(Value::as_str) == Some("agent_exit"))
    .and_then(|e| {
        e.get("exit_cause")
            .and_then(Value::as_str)
            .map(String::from)
    });
    let now = chrono::Utc::now().timestamp();
    let throttle = crate::serve::throttle_state(&layout, now);
    let throttled_agents = throttle
        .as_ref()
        .map(|_| {
            crate::serve::per_agent(&layout, now)
                .active
                .into_keys()
                .collect()
        })
        .unwrap_or_default();
    let never_ran = st.is_none() && !layout.log_dir.exists();
    Ok(ServiceStatus {
        project: cfg.project.clone(),
        mode: m,
        active,
        pid,
        uptime_s: uptime,
        unit_file: systemd::unit_path(
            &cfg.project,
            if m == Mode::SystemdSystem {
                systemd::Scope::System
            } else {
                systemd::Scope::User
            },
        )
        .filter(|p| p.exists())
        .map(|p| p.to_string_lossy().into_owned()),
        system_managed: system_managed(&cfg.project),
        current_round: round
            .as_ref()
            .map(|_| st.as_ref().map(|s| s.round_num).unwrap_or(0) + 1),
        current_round_age_s: round_age,
        last: st,
        last_exit_cause: last_cause,
        throttle,
        throttled_agents,
        stale_pid_file: stale,
        never_ran,
    })
}
