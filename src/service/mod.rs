//! Service lifecycle: `install`/`uninstall` (systemd units), `start`, `stop`,
//! `kill`, `cancel`, `restart`, `status`. With systemd units present the verbs
//! drive systemd; without, `start` spawns a detached `serve` and the pid file
//! (pid + start-time token) drives the rest (spec §8, §12; 0.3 delta §12).
//!
//! Nothing here signals a pid without first proving, by its start time, that
//! it is still the process that wrote the record.

pub mod pidfile;
pub mod systemd;

use crate::cli::{CliError, CmdResult, GlobalArgs};
use crate::config::Config;
use crate::exit_code;
use crate::state::Layout;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
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

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::SystemdUser => "systemd-user",
            Mode::SystemdSystem => "systemd-system",
            Mode::PidFile => "pidfile",
            Mode::None => "none",
        }
    }
}

fn load(g: &GlobalArgs) -> Result<Config, CliError> {
    Ok(crate::config::load(&g.config)?)
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

fn signal_pid(pid: i32, s: Signal) -> bool {
    kill(Pid::from_raw(pid), s).is_ok()
}

/// The live `serve` of this project, proven by the pid file's token.
fn live_serve(layout: &Layout) -> Result<Option<pidfile::PidRecord>, CliError> {
    match pidfile::read(&layout.serve_pid()) {
        Ok(Some(r)) if r.is_live() => Ok(Some(r)),
        Ok(_) => Ok(None),
        Err(e) => Err(CliError::failure(e.to_string())),
    }
}

/// The live `round` of this project, from the lock holder sidecar.
fn live_round(layout: &Layout) -> Option<crate::state::lock::Holder> {
    let h = crate::state::lock::read_holder(&layout.lock_holder())?;
    let ok = match h.create_time {
        Some(t) => crate::proc::same_process(h.pid, t),
        None => {
            crate::proc::alive(h.pid)
                && crate::proc::cmdline(h.pid).is_some_and(|c| c.contains("round"))
        }
    };
    ok.then_some(h)
}

fn wait_gone(pids: &[i32], timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if pids.iter().all(|p| !crate::proc::alive(*p)) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn print(g: &GlobalArgs, v: &Value, text: &str) {
    if g.json {
        println!("{}", crate::state::pyjson::to_pretty(v));
    } else {
        println!("{text}");
    }
}

/// `agent-runner start`.
pub fn cmd_start(g: &GlobalArgs) -> CmdResult {
    let cfg = load(g)?;
    start(&cfg, g)
}

fn start(cfg: &Config, g: &GlobalArgs) -> CmdResult {
    let layout = Layout::new(&cfg.runtime.log_dir);
    let m = mode(cfg);
    match m.scope() {
        Some(scope) => {
            systemd::systemctl(scope, &["start", &systemd::unit_name(&cfg.project)])
                .map_err(CliError::failure)?;
            print(
                g,
                &json!({"mode": m.as_str(), "started": true}),
                &format!("started {} via systemd", systemd::unit_name(&cfg.project)),
            );
            Ok(exit_code::OK)
        }
        None => {
            if let Some(r) = live_serve(&layout)? {
                return Err(CliError::failure(format!(
                    "serve is already running (pid {}); use 'agent-runner restart' to restart it",
                    r.pid
                )));
            }
            let pid = pidfile::spawn_detached_serve(cfg).map_err(CliError::failure)?;
            print(
                g,
                &json!({"mode": "pidfile", "started": true, "pid": pid}),
                &format!(
                    "started serve in the background (pid {pid}); logs in {}",
                    layout.log_dir.display()
                ),
            );
            Ok(exit_code::OK)
        }
    }
}

/// `agent-runner stop`: graceful; the current round finishes first.
pub fn cmd_stop(g: &GlobalArgs) -> CmdResult {
    let cfg = load(g)?;
    stop(&cfg, g, true)
}

fn stop(cfg: &Config, g: &GlobalArgs, report: bool) -> CmdResult {
    let layout = Layout::new(&cfg.runtime.log_dir);
    let m = mode(cfg);
    if let Some(scope) = m.scope() {
        systemd::systemctl(scope, &["stop", &systemd::unit_name(&cfg.project)])
            .map_err(CliError::failure)?;
        if report {
            print(
                g,
                &json!({"mode": m.as_str(), "stopped": true}),
                "stopped via systemd",
            );
        }
        return Ok(exit_code::OK);
    }
    let Some(r) = live_serve(&layout)? else {
        if report {
            print(
                g,
                &json!({"mode": m.as_str(), "stopped": false, "reason": "not running"}),
                "serve is not running",
            );
        }
        return Ok(exit_code::OK);
    };
    let t = Instant::now();
    if !g.json {
        eprintln!(
            "agent-runner: stopping serve (pid {}) — the current round finishes first...",
            r.pid
        );
    }
    signal_pid(r.pid, Signal::SIGTERM);
    let timeout = Duration::from_secs(cfg.max_budget() + 60);
    if !wait_gone(&[r.pid], timeout) {
        return Err(CliError::failure(format!(
            "serve (pid {}) did not stop within {}s; use 'agent-runner kill'",
            r.pid,
            timeout.as_secs()
        )));
    }
    if report {
        print(
            g,
            &json!({"mode": "pidfile", "stopped": true, "pid": r.pid, "elapsed_s": t.elapsed().as_secs_f64()}),
            &format!("stopped ({:.1}s)", t.elapsed().as_secs_f64()),
        );
    }
    Ok(exit_code::OK)
}

/// Every process of this project: serve, the round, the agent's group, and
/// anything that carries the project's `AGENT_RUNNER_LOG_DIR`.
fn project_tree(layout: &Layout, serve: Option<i32>, round: Option<i32>) -> Vec<crate::proc::Stat> {
    let me = std::process::id() as i32;
    let mut v: Vec<crate::proc::Stat> = Vec::new();
    let mut add = |s: crate::proc::Stat| {
        if s.pid != me && !v.iter().any(|x| x.pid == s.pid) {
            v.push(s);
        }
    };
    for root in [serve, round].into_iter().flatten() {
        if let Some(s) = crate::proc::stat(root) {
            add(s);
        }
        for d in crate::proc::descendants(root) {
            add(d);
        }
    }
    for s in crate::proc::with_env("AGENT_RUNNER_LOG_DIR", &layout.log_dir.to_string_lossy()) {
        add(s);
    }
    v
}

fn terminate_tree(tree: &[crate::proc::Stat], grace: Duration) -> Vec<i32> {
    let tokens: Vec<(i32, u64)> = tree.iter().map(|s| (s.pid, s.start_ticks)).collect();
    let still = |pid: i32, ticks: u64| {
        crate::proc::stat(pid).is_some_and(|s| s.start_ticks == ticks && s.state != 'Z')
    };
    for s in tree {
        signal_pid(s.pid, Signal::SIGTERM);
    }
    let end = Instant::now() + grace;
    while Instant::now() < end && tokens.iter().any(|(p, t)| still(*p, *t)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (p, t) in &tokens {
        if still(*p, *t) {
            let _ = killpg(Pid::from_raw(*p), Signal::SIGKILL);
            signal_pid(*p, Signal::SIGKILL);
        }
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

/// `agent-runner kill`: SIGTERM, grace, SIGKILL to serve, the round and the agent.
pub fn cmd_kill(g: &GlobalArgs) -> CmdResult {
    let cfg = load(g)?;
    kill_all(&cfg, g, true)
}

fn kill_all(cfg: &Config, g: &GlobalArgs, report: bool) -> CmdResult {
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
        return Err(CliError::failure(format!("could not end processes {left:?} (in uninterruptible sleep?); check 'ps -o pid,stat,cmd -p …'")));
    }
    let _ = std::fs::remove_file(layout.serve_pid());
    if report {
        print(
            g,
            &json!({"killed": n, "serve_pid": serve, "round_pid": round}),
            &format!("killed {n} process(es) of project '{}'", cfg.project),
        );
    }
    Ok(exit_code::OK)
}

/// `agent-runner cancel`: end the current round now; the loop goes on.
pub fn cmd_cancel(g: &GlobalArgs) -> CmdResult {
    let cfg = load(g)?;
    let layout = Layout::new(&cfg.runtime.log_dir);
    let Some(h) = live_round(&layout) else {
        return Err(CliError::failure(
            "no round is running for this project; nothing to cancel",
        ));
    };
    signal_pid(h.pid, Signal::SIGTERM);
    let grace = KILL_GRACE + Duration::from_secs(10);
    if !wait_gone(&[h.pid], grace) {
        let tree = project_tree(&layout, None, Some(h.pid));
        terminate_tree(&tree, Duration::from_secs(1));
    }
    print(
        g,
        &json!({"cancelled": true, "round_pid": h.pid}),
        &format!(
            "cancelled the current round (round pid {}); the loop goes on",
            h.pid
        ),
    );
    Ok(exit_code::OK)
}

/// `agent-runner restart [--force]`.
pub fn cmd_restart(g: &GlobalArgs, force: bool) -> CmdResult {
    let cfg = load(g)?;
    if force {
        kill_all(&cfg, g, false)?;
    } else {
        stop(&cfg, g, false)?;
    }
    start(&cfg, g)
}

/// `agent-runner status`.
pub fn cmd_status(g: &GlobalArgs) -> CmdResult {
    let cfg = load(g)?;
    let layout = Layout::new(&cfg.runtime.log_dir);
    let m = mode(&cfg);
    let rec = match pidfile::read(&layout.serve_pid()) {
        Ok(r) => r,
        Err(e) => {
            return Err(CliError::failure(format!(
                "{e} (remove it if no serve is running, then retry)"
            )))
        }
    };
    let (active, pid, uptime) = match m.scope() {
        Some(scope) => {
            let props = systemd::show(scope, &systemd::unit_name(&cfg.project));
            let active = props.get("ActiveState").is_some_and(|s| s == "active");
            let pid = props
                .get("MainPID")
                .and_then(|p| p.parse::<i32>().ok())
                .filter(|p| *p > 0);
            (active, pid, pid.and_then(crate::proc::age_s))
        }
        None => match rec.as_ref().filter(|r| r.is_live()) {
            Some(r) => (true, Some(r.pid), crate::proc::age_s(r.pid)),
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
    let throttle = crate::serve::throttle_state(&layout, chrono::Utc::now().timestamp());
    let never_ran = st.is_none() && !layout.log_dir.exists();
    let v = json!({
        "mode": m.as_str(),
        "active": active,
        "pid": pid,
        "uptime_s": uptime.map(|u| (u * 10.0).round() / 10.0),
        "unit_file": systemd::unit_path(&cfg.project, if m == Mode::SystemdSystem { systemd::Scope::System } else { systemd::Scope::User }).filter(|p| p.exists()).map(|p| p.to_string_lossy().into_owned()),
        "rate_limit": throttle.as_ref().map(|t| json!({"reset_at_epoch": t.reset_at_epoch, "classification": t.classification, "agent": t.agent, "since_round": t.since_round})),
        "current_round": round.as_ref().map(|_| st.as_ref().map(|s| s.round_num).unwrap_or(0) + 1),
        "current_round_age_s": round_age,
        "last_round": st.as_ref().map(|s| s.round_num),
        "last_exit_code": st.as_ref().and_then(|s| s.last_exit_code),
        "last_exit_cause": last_cause,
        "stale_pid_file": stale,
        "never_ran": never_ran,
    });
    let mut text = format!(
        "project: {}\nmode: {}\nactive: {}",
        cfg.project,
        m.as_str(),
        active
    );
    if never_ran {
        text.push_str("\nthis project has never run (no log_dir yet); start it with 'agent-runner start' or 'agent-runner serve'");
    }
    if let Some(p) = pid {
        text.push_str(&format!("\npid: {p}"));
    }
    if let Some(u) = uptime {
        text.push_str(&format!("\nuptime: {u:.0}s"));
    }
    if let Some(r) = v["current_round"].as_u64() {
        text.push_str(&format!(
            "\ncurrent round: {r} (running for {}s)",
            round_age.unwrap_or(0)
        ));
    }
    if let Some(s) = st.as_ref() {
        text.push_str(&format!(
            "\nlast round: {} (exit {}, {})",
            s.round_num,
            s.last_exit_code.unwrap_or(0),
            last_cause.as_deref().unwrap_or("?")
        ));
    }
    if let Some(t) = throttle.as_ref() {
        text.push_str(&format!(
            "\nrate limited: {} for {} until epoch {}",
            t.classification, t.agent, t.reset_at_epoch
        ));
    }
    if stale {
        text.push_str("\nnote: serve.pid is stale (its process is gone); it will be replaced at the next start");
    }
    print(g, &v, &text);
    Ok(exit_code::OK)
}
