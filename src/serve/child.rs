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

/// Spawn `agent-runner --config <cfg> round` in its own session with output to
/// `round-<N>.log`, and wait for it. A second SIGINT (or any SIGTERM after a
/// first SIGINT) asks the round to end its agent now; a round that outlives
/// its outer ceiling is killed with its whole tree. When serve may give the
/// round its own cgroup, the child joins it before it runs, and the cgroup
/// is returned for the caller to end after its sweep.
pub(super) fn run_round_child(
    exe: &Path,
    cfg: &Config,
    round_num: u64,
    phase: Option<&str>,
    fresh: bool,
    signals: &Signals,
    log: &EventLog,
) -> (i32, Option<RoundCgroup>) {
    let cg = RoundCgroup::create(round_num);
    let rc = run_in(exe, cfg, round_num, phase, fresh, signals, log, cg.as_ref());
    (rc, cg)
}

#[allow(clippy::too_many_arguments)]
fn run_in(
    exe: &Path,
    cfg: &Config,
    round_num: u64,
    phase: Option<&str>,
    fresh: bool,
    signals: &Signals,
    log: &EventLog,
    cg: Option<&RoundCgroup>,
) -> i32 {
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
        // Its own session: a terminal's Ctrl-C reaches serve only, and serve decides.
        .own_session();
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
    let ceiling = ceiling(cfg);
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

/// The outer ceiling on a round child: the longest budget, the kill ladder,
/// a margin for the round's own bookkeeping, and the goal checks' allowance.
pub(crate) fn ceiling(cfg: &Config) -> Duration {
    Duration::from_secs(cfg.max_budget() + 5 + 15 + 120 + 60 + cfg.goal_allowance_s())
}

#[cfg(test)]
mod tests {
    /// Two checks of 10 s and 4 s add (10 + 6) + (4 + 6) s to the ceiling.
    #[test]
    fn goal_checks_extend_the_outer_ceiling() {
        let dir = std::path::Path::new("/nonexistent/p");
        let plain =
            crate::config::default_config(dir, &dir.join("logs")).unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "schema_version = 1\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\
             [runtime]\nwork_dir = \"{d}\"\nlog_dir = \"{d}/logs\"\n[prompt]\nfiles = [\"a.md\", \"logs/l.md\"]\n\
             [goal]\nledger = \"logs/l.md\"\n[[goal.checks]]\nname = \"a\"\ncmd = [\"true\"]\n\
             [[goal.checks]]\nname = \"b\"\ncmd = [\"true\"]\ntimeout_s = 4\n",
            d = dir.display()
        );
        let goal = crate::config::from_str(&dir.join("agent-runner.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(goal.goal_allowance_s(), 26);
        assert_eq!(
            super::ceiling(&goal).as_secs(),
            super::ceiling(&plain).as_secs() + 26
        );
    }
}
