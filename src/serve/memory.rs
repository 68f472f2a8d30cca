//! serve's side of the coma preventer (0.3 delta §4.3, §4.6) and of round
//! containment: at boot, serve becomes a child subreaper and announces the
//! cgroup plan (`host_cgroup_memory_limit`, the advisory on stderr); before
//! each round, the admission gate defers on a critical verdict
//! (`round_deferred`, a re-check every 30 s or on a wake, `round_resumed`);
//! after each round, whatever the round left running — its agent, when the
//! round process itself died, and what is still in the round's own cgroup
//! — is ended before the next one; and the
//! mem-loop give-up's events (`mem_loop`, `mem_loop_persistent`).

use super::round_cgroup::RoundCgroup;
use super::round_logs::crash_reason;
use super::{interruptible_sleep, policy, StopCause};
use crate::coma::gate::{deferred_fields, Gate};
use crate::config::Config;
use crate::fields;
use crate::state::{EventLog, Kind};
use crate::sys::reaper;
use crate::sys::signals::Signals;
use std::time::{Duration, Instant};

/// Grace between SIGTERM and SIGKILL for an orphaned tree.
const ORPHAN_GRACE: Duration = Duration::from_secs(5);

/// Boot: the subreaper, then the cgroup probe announced once.
pub(super) fn boot(cfg: &Config, log: &EventLog, notice: &dyn Fn(&str)) {
    if let Err(e) = reaper::become_subreaper() {
        tracing::warn!(
            "cannot become a child subreaper ({e}): an orphaned agent tree may outlive its round"
        );
    }
    let plan = crate::coma::plan::probe(cfg.monitor.host_health.brake.memory_high);
    if let Some(a) = &plan.advisory {
        notice(a);
    }
    log.emit_or_warn(Kind::HostCgroupMemoryLimit, plan.event_fields());
}

/// The pre-round admission gate. False: go on with the round. True: the
/// loop was deferred (and resumed, or a stop arrived meanwhile); the caller
/// starts over from the loop's top, which handles any stop.
pub(super) fn gate(cfg: &Config, log: &EventLog, signals: &Signals, g: &mut Gate) -> bool {
    let hh = &cfg.monitor.host_health;
    let Some(p) = g.critical(hh) else {
        return false;
    };
    log.emit_or_warn(Kind::RoundDeferred, deferred_fields(&p));
    let started = Instant::now();
    let layout = log.layout();
    loop {
        interruptible_sleep(signals, crate::coma::gate_poll(), cfg);
        if signals.counts().any()
            || cfg.runtime.stop_file.as_ref().is_some_and(|p| p.exists())
            || layout.agent_done().exists()
        {
            return true;
        }
        if g.critical(hh).is_none() {
            log.emit_or_warn(
                Kind::RoundResumed,
                fields! {"deferred_for_s" => started.elapsed().as_secs()},
            );
            return true;
        }
    }
}

/// The mem-loop give-up (0.3 delta §3.1): `mem_loop` (71, systemd restarts
/// serve) or, when this would be the third `mem_loop` within two hours,
/// `mem_loop_persistent` (70, it stays stopped).
pub(super) fn mem_loop_stop(
    log: &EventLog,
    round_num: u64,
    consecutive: u32,
    exit_code: i64,
) -> (StopCause, String) {
    let layout = log.layout();
    let reason = crash_reason(layout, round_num);
    let now = chrono::Utc::now().timestamp();
    let occurrence =
        policy::mem_loops_in_window(&layout.log_dir, now, policy::MEM_LOOP_PERSIST_WINDOW_S) + 1;
    if occurrence >= policy::MEM_LOOP_PERSIST_THRESHOLD {
        log.emit_or_warn(
            Kind::MemLoopPersistent,
            fields! {"consecutive" => occurrence, "exit_code" => exit_code, "reason" => reason},
        );
        return (StopCause::MemLoopPersistent, format!("memory loop persisted: the {occurrence}th mem_loop within {}h — stopping for good; free memory or lower the agent's footprint, then start serve again (see '{}')", policy::MEM_LOOP_PERSIST_WINDOW_S / 3600, layout.log_dir.display()));
    }
    log.emit_or_warn(
        Kind::MemLoop,
        fields! {"consecutive" => consecutive, "exit_code" => exit_code, "reason" => reason},
    );
    (StopCause::MemLoop, format!("memory loop: {consecutive} rounds in a row ended by the memory floor — exiting so the service manager can restart serve (see '{}')", layout.log_dir.display()))
}

/// After round `round_num`'s process was reaped: end every process still
/// below serve (orphans re-parented to it, SIGTERM → grace → SIGKILL), then
/// whatever is still in the round's own cgroup (`cgroup.kill`), and record
/// them all as `round_escaped_processes_killed`.
pub(super) fn sweep_orphans(log: &EventLog, round_num: u64, cg: Option<RoundCgroup>) {
    let left = reaper::leftovers(&[]);
    let names: Vec<(i32, String)> = left
        .iter()
        .map(|s| {
            let argv = crate::sys::proc::argv(s.pid);
            let base = argv
                .first()
                .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
                .unwrap_or_else(|| s.comm.clone());
            (s.pid, base)
        })
        .collect();
    let mut done: Vec<(i32, String)> = reaper::end_all(&left, ORPHAN_GRACE)
        .iter()
        .map(|s| {
            let name = names
                .iter()
                .find(|(p, _)| *p == s.pid)
                .map_or(s.comm.clone(), |(_, n)| n.clone());
            (s.pid, name)
        })
        .collect();
    if let Some(cg) = cg {
        for (pid, name) in cg.end() {
            if !done.iter().any(|(p, _)| *p == pid) {
                done.push((pid, name));
            }
        }
    }
    if !done.is_empty() {
        let procs: Vec<serde_json::Value> = done
            .iter()
            .take(5)
            .map(|(pid, name)| serde_json::json!({"name": name, "pid": pid}))
            .collect();
        log.emit_or_warn(
            Kind::RoundEscapedProcessesKilled,
            fields! {"round_num" => round_num, "count" => done.len(), "processes" => procs},
        );
    }
    reaper::reap_zombies(&[]);
}
