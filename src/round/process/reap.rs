//! Waiting for the leader on its pidfd (never reaping on the fast path),
//! sorting descendants into live workers and ignored helpers, and the kill
//! ladder: snapshot the tree → first signal to the group → grace → SIGKILL
//! the group → SIGKILL escaped descendants (start time re-checked, so a
//! recycled pid is never hit) → wait for the leader. Reaping itself stays
//! with the caller, who owns the `Child`.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use regex::Regex;

use super::ChildInfo;
use crate::sys::proc::{self, Stat};
use crate::sys::spawn::{exited_unreaped, poll_readable};

/// Longest stored child name when it comes from argv[0] (comm is ≤ 15 bytes).
const MAX_NAME_LEN: usize = 64;
/// How long to wait for the leader after the final SIGKILL.
const FINAL_WAIT: Duration = Duration::from_secs(10);
/// How long to wait for SIGKILLed descendants to actually die.
const DEATH_CHECK: Duration = Duration::from_secs(3);
/// Poll period of the fallback path (no pidfd) and of the death check.
const FALLBACK_TICK: Duration = Duration::from_millis(50);

/// Wait until the leader exits (not reaped) or `deadline`; true if it exited.
pub(crate) fn wait_leader(pid: i32, pidfd: Option<&OwnedFd>, deadline: Instant) -> bool {
    loop {
        if exited_unreaped(pid) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let left = deadline - now;
        match pidfd {
            Some(fd) => {
                let _ = poll_readable(&[Some(fd.as_fd())], left);
            }
            None => std::thread::sleep(left.min(FALLBACK_TICK)),
        }
    }
}

/// Name to store for a process: the kernel's comm (cannot be rewritten via
/// argv), or — if comm is truncated to 15 bytes and argv[0]'s basename
/// extends it, as psutil does — that basename, capped.
fn display_name(st: &Stat, argv: &[String]) -> String {
    let base = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let name = if st.comm.is_empty() || (st.comm.len() >= 15 && base.starts_with(&st.comm)) {
        base
    } else {
        st.comm.clone()
    };
    name.chars().take(MAX_NAME_LEN).collect()
}

/// Live (non-zombie) descendants of `leader`, split into live workers and
/// helpers matching an ignore pattern (search semantics on the cmdline
/// joined by spaces, or comm if empty). At most `max_each` of each.
pub(crate) fn live_children(
    leader: i32,
    ignore: &[Regex],
    max_each: usize,
) -> (Vec<ChildInfo>, Vec<ChildInfo>) {
    let mut live = Vec::new();
    let mut ignored = Vec::new();
    for st in proc::descendants(leader) {
        if st.state == 'Z' || st.state == 'X' {
            continue;
        }
        let argv = proc::argv(st.pid);
        let full = if argv.is_empty() {
            st.comm.clone()
        } else {
            argv.join(" ")
        };
        let name = display_name(&st, &argv);
        match ignore.iter().find(|r| r.is_match(&full)) {
            Some(r) => {
                if ignored.len() < max_each {
                    ignored.push(ChildInfo {
                        name,
                        pid: st.pid,
                        matched: Some(r.as_str().to_string()),
                    });
                }
            }
            None => {
                if live.len() < max_each {
                    live.push(ChildInfo {
                        name,
                        pid: st.pid,
                        matched: None,
                    });
                }
            }
        }
        if live.len() >= max_each && ignored.len() >= max_each {
            break;
        }
    }
    (live, ignored)
}

/// The process tree below `leader` (plus, on refresh, below every still
/// verified member), remembered with start times so a recycled pid is never
/// mistaken for a member.
#[derive(Debug, Default)]
pub(crate) struct TreeSnapshot {
    members: Vec<Stat>,
}

impl TreeSnapshot {
    pub(crate) fn take(leader: i32) -> Self {
        let mut s = TreeSnapshot::default();
        s.refresh(leader);
        s
    }

    /// Add what appeared since the last look: members of the agent's session
    /// (sid = leader; they stay in it even when a double fork reparented them
    /// away from the leader) and the descendants of the leader, of those, and
    /// of every member that is still the same process.
    pub(crate) fn refresh(&mut self, leader: i32) {
        let all = proc::all();
        for s in all.iter().filter(|s| s.sid == leader && s.pid != leader) {
            self.add(s.clone());
        }
        let mut roots = vec![leader];
        roots.extend(self.members.iter().filter(|m| still_same(m)).map(|m| m.pid));
        for root in roots {
            for d in proc::descendants_in(&all, root) {
                self.add(d);
            }
        }
    }

    fn add(&mut self, s: Stat) {
        if !self.members.iter().any(|m| m.pid == s.pid) {
            self.members.push(s);
        }
    }
}

/// True if the live process at `m.pid` is the one we snapshotted.
fn still_same(m: &Stat) -> bool {
    proc::stat(m.pid)
        .is_some_and(|now| now.start_ticks == m.start_ticks && now.state != 'Z' && now.state != 'X')
}

/// Run the kill ladder on the group led by `leader` (pgid = leader pid).
/// Returns the escaped descendants that were SIGKILLed. The leader is left
/// unreaped (zombie) for the caller to collect.
pub(crate) fn kill_tree(
    leader: i32,
    pidfd: Option<&OwnedFd>,
    first: Signal,
    grace: Duration,
) -> Vec<ChildInfo> {
    let pgid = Pid::from_raw(leader);
    let own_pgid = nix::unistd::getpgrp();
    // Snapshot while the leader is alive: once it dies its children are
    // reparented and no longer reachable by ppid.
    let mut snap = TreeSnapshot::take(leader);
    let _ = killpg(pgid, first);
    wait_leader(leader, pidfd, Instant::now() + grace);
    // Catch what was forked during the grace window.
    snap.refresh(leader);
    let _ = killpg(pgid, Signal::SIGKILL);

    let mut escaped = Vec::new();
    for m in &snap.members {
        if m.pgid == leader {
            continue; // covered by the group SIGKILL
        }
        let Some(now) = proc::stat(m.pid) else {
            continue;
        };
        if now.start_ticks != m.start_ticks || now.state == 'Z' || now.state == 'X' {
            continue; // gone, or the pid was recycled
        }
        let argv = proc::argv(m.pid);
        let _ = kill(Pid::from_raw(m.pid), Signal::SIGKILL);
        // Its own group (a setsid'd helper leads one) may hold processes
        // forked after the snapshot; it is re-verified live just above.
        let gp = Pid::from_raw(now.pgid);
        if now.pgid > 1 && now.pgid != leader && gp != own_pgid {
            let _ = killpg(gp, Signal::SIGKILL);
        }
        escaped.push(ChildInfo {
            name: display_name(&now, &argv),
            pid: m.pid,
            matched: None,
        });
    }

    wait_leader(leader, pidfd, Instant::now() + FINAL_WAIT);
    // SIGKILL is delivered asynchronously: give the members a moment to die
    // so "run returned" means "the tree is gone".
    let deadline = Instant::now() + DEATH_CHECK;
    while Instant::now() < deadline {
        let any_alive = snap.members.iter().any(still_same)
            || proc::in_group(leader).iter().any(|s| s.pid != leader);
        if !any_alive {
            break;
        }
        std::thread::sleep(FALLBACK_TICK);
    }
    escaped
}

/// After the leader `leader` is gone (reaped): SIGTERM → `grace` → SIGKILL
/// to what is left of its tree — processes still in its session or group
/// and, when this process is a child subreaper, every live descendant of
/// ours (orphans re-parented to us: a `setsid` daemon whose parent already
/// exited). Returns those that were signalled.
pub(crate) fn sweep_leftovers(leader: i32, grace: Duration) -> Vec<ChildInfo> {
    let mut left: Vec<Stat> = proc::all()
        .into_iter()
        .filter(|s| {
            s.pid != leader
                && (s.sid == leader || s.pgid == leader)
                && s.state != 'Z'
                && s.state != 'X'
        })
        .collect();
    if crate::sys::reaper::is_subreaper() {
        for s in crate::sys::reaper::leftovers(&[leader]) {
            if !left.iter().any(|l| l.pid == s.pid) {
                left.push(s);
            }
        }
    }
    if left.is_empty() {
        return Vec::new();
    }
    // names first: once signalled they may be gone
    let named: Vec<(i32, String)> = left
        .iter()
        .map(|s| (s.pid, display_name(s, &proc::argv(s.pid))))
        .collect();
    crate::sys::reaper::end_all(&left, grace)
        .into_iter()
        .map(|s| ChildInfo {
            name: named
                .iter()
                .find(|(p, _)| *p == s.pid)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| s.comm.clone()),
            pid: s.pid,
            matched: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(comm: &str) -> Stat {
        Stat {
            pid: 1,
            comm: comm.into(),
            state: 'S',
            ppid: 0,
            pgid: 1,
            sid: 1,
            start_ticks: 0,
        }
    }

    #[test]
    fn fallback_wait_sees_exit_without_reaping() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(!exited_unreaped(pid));
        assert!(!wait_leader(
            pid,
            None,
            Instant::now() + Duration::from_millis(50)
        ));
        assert!(wait_leader(
            pid,
            None,
            Instant::now() + Duration::from_secs(30)
        ));
        // Still a zombie: the status is ours to collect.
        assert_eq!(proc::stat(pid).map(|s| s.state), Some('Z'));
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn pidfd_wait_sees_exit_without_reaping() -> Result<(), String> {
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let Some(fd) = crate::sys::spawn::pidfd_open(pid) else {
            let _ = child.wait();
            return Err("pidfd_open (Linux >= 5.3) is required here".into());
        };
        assert!(wait_leader(
            pid,
            Some(&fd),
            Instant::now() + Duration::from_secs(30)
        ));
        assert_eq!(proc::stat(pid).map(|s| s.state), Some('Z'));
        assert!(child.wait().unwrap().success());
        Ok(())
    }

    #[test]
    fn name_prefers_comm_and_extends_truncated_comm() {
        let argv = vec!["/usr/bin/exec-a-secret".to_string()];
        assert_eq!(display_name(&st("node"), &argv), "node");
        let long = vec!["/opt/x/very-long-program-name".to_string(), "--k".into()];
        assert_eq!(
            display_name(&st("very-long-progr"), &long),
            "very-long-program-name"
        );
        assert_eq!(display_name(&st(""), &long), "very-long-program-name");
    }
}
