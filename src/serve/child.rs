//! The round child: `agent-runner round` spawned in its own session with its
//! output in `round-<N>.log`, waited on with a pidfd, sampled for metrics,
//! stopped on a second SIGINT and killed with its whole tree past the outer
//! ceiling. Knows nothing of the loop's policy.

use super::round_cgroup::RoundCgroup;
use crate::config::Config;
use crate::exit_code;
use crate::fields;
use crate::state::{EventLog, Kind};
use crate::sys::signals::Signals;
use crate::sys::spawn::{pidfd_open, SpawnExt};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What serve decided for one round child.
pub(super) struct RoundChild<'a> {
    pub round_num: u64,
    pub phase: Option<&'a str>,
    pub fresh: bool,
    /// `(flag, session id)` for cross-round resume (see [`super::session`]).
    pub resume: Option<&'a (String, String)>,
    /// Past this the round supervisor is wedged: see [`outer_ceiling`].
    pub ceiling: Duration,
}

/// The wedge ceiling: the largest budget plus the margins a healthy round
/// may still use after it (5 s reap grace, 15 s git, 120 s cleanup, 60 s
/// slack) and the `[goal]` checks' allowance, so it only trips when the
/// round process itself is stuck.
pub(super) fn outer_ceiling(cfg: &Config) -> Duration {
    Duration::from_secs(cfg.max_budget() + 5 + 15 + 120 + 60 + cfg.goal_allowance_s())
}

/// Spawn `agent-runner --config <cfg> round` in its own session with output to
/// `round-<N>.log`, and wait for it. A second SIGINT (or any SIGTERM after a
/// first SIGINT) asks the round to end its agent now; a round that outlives
/// its outer ceiling is killed with its whole tree. When serve may give the
/// round its own cgroup, the child joins it before it runs, and the cgroup
/// is returned for the caller to end after its sweep.
pub(super) fn run_round_child(
    exe: &Path,
    cfg: &Config,
    rc: &RoundChild,
    signals: &Signals,
    log: &EventLog,
) -> (i32, Option<RoundCgroup>) {
    let cg = RoundCgroup::create(rc.round_num);
    let code = run_in(exe, cfg, rc, signals, log, cg.as_ref());
    (code, cg)
}

fn run_in(
    exe: &Path,
    cfg: &Config,
    rc: &RoundChild,
    signals: &Signals,
    log: &EventLog,
    cg: Option<&RoundCgroup>,
) -> i32 {
    let (round_num, phase, fresh) = (rc.round_num, rc.phase, rc.fresh);
    let layout = log.layout();
    let out_path = layout.serve_round_log(round_num);
    let out = match crate::state::layout::create_private(&out_path) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!("cannot create '{}': {e}", out_path.display());
            return exit_code::ENVIRONMENTAL;
        }
    };
    let mut cmd = Command::new(exe);
    if cmd.output_to(out).is_err() {
        return exit_code::ENVIRONMENTAL;
    }
    cmd.arg("--config")
        .arg(&cfg.path)
        .arg("round")
        .args(phase.map(|p| ["--phase", p]).into_iter().flatten())
        .current_dir(&cfg.runtime.work_dir)
        .stdin(Stdio::null())
        .env("AGENT_RUNNER_LOG_DIR", &layout.log_dir)
        .env("AGENT_RUNNER_ROUND_NUM", round_num.to_string())
        .env("AGENT_RUNNER_FRESH_EYES", if fresh { "1" } else { "0" })
        .env_remove(super::session::FLAG_VAR)
        .env_remove(super::session::ID_VAR)
        // Its own session: a terminal's Ctrl-C reaches serve only, and serve decides.
        .own_session();
    if let Some((flag, id)) = rc.resume {
        cmd.env(super::session::FLAG_VAR, flag)
            .env(super::session::ID_VAR, id);
    }
    if let Some(cg) = cg {
        cmd.join_cgroup(cg.procs_fd());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot start round: {e}");
            return exit_code::FAILURE;
        }
    };
    let pid = child.id() as i32;
    let pidfd = pidfd_open(pid);
    let ceiling = rc.ceiling;
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
    let desc = crate::sys::proc::descendants(pid);
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
    use crate::state::Layout;

    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
    }

    #[test]
    fn a_round_past_its_ceiling_is_killed_with_its_tree_and_recorded() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let logs = d.path().join("logs");
        let cfg = crate::config::default_config(d.path(), &logs).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outer_ceiling(&cfg).as_secs(), cfg.max_budget() + 200);
        crate::state::layout::create_dirs(&logs).unwrap_or_else(|e| panic!("{e}"));
        // a "round" that never ends, with a grandchild in its tree
        let pids = d.path().join("pids");
        let exe = d.path().join("wedged");
        std::fs::write(
            &exe,
            format!(
                "#!/bin/sh\n[ \"$1\" = probe ] && exit 0\nsleep 60 &\necho $! > '{}'\nexec sleep 60\n",
                pids.display()
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        // A child another test thread forked while the script was open for
        // writing holds it until that child execs: exec then fails with
        // ETXTBSY. Wait until the script runs before handing it to serve.
        let runs = (0..100).any(|_| {
            let r = std::process::Command::new(&exe).arg("probe").status();
            if r.as_ref()
                .is_err_and(|e| e.raw_os_error() == Some(nix::libc::ETXTBSY))
            {
                std::thread::sleep(Duration::from_millis(20));
                return false;
            }
            r.unwrap_or_else(|e| panic!("{e}")).success()
        });
        assert!(runs, "the test's script stayed busy");
        let log = EventLog::new(Layout::new(&logs));
        let signals = Signals::install().unwrap_or_else(|e| panic!("{e}"));
        let rc = RoundChild {
            round_num: 1,
            phase: None,
            fresh: false,
            resume: None,
            ceiling: Duration::from_secs(1),
        };
        let t = Instant::now();
        assert_eq!(run_round_child(&exe, &cfg, &rc, &signals, &log).0, 137);
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        let grandchild: i32 = std::fs::read_to_string(&pids)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let gone = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            !alive(grandchild)
        });
        assert!(gone, "the wedged round's child {grandchild} survived");
        let ev: Vec<serde_json::Value> = Layout::new(&logs)
            .event_files()
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect::<Vec<serde_json::Value>>()
            })
            .filter(|e| e["event"] == "round_supervisor_wedged")
            .collect();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0]["timeout_s"], 1);
        assert!(ev[0]["pid"].as_i64().is_some_and(|p| p > 0));
    }

    /// Two checks of 10 s and 4 s add (10 + 6) + (4 + 6) s to the ceiling.
    #[test]
    fn goal_checks_extend_the_outer_ceiling() {
        let (plain, goal) = crate::config::with_two_goal_checks();
        assert_eq!(goal.goal_allowance_s(), 26);
        assert_eq!(
            super::outer_ceiling(&goal).as_secs(),
            super::outer_ceiling(&plain).as_secs() + 26
        );
    }
}
