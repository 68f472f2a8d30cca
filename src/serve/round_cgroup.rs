//! Each round in its own cgroup, when serve may make one: serve's own
//! cgroup v2 leaf is owned by serve's uid and writable (a delegated unit, a
//! user unit, root). The round child joins `<leaf>/agent-runner-<serve
//! pid>-round-<N>` before it runs (so does everything it starts; no fork,
//! `setsid` or double fork leaves a cgroup), and once the round child is
//! reaped and the orphan sweep is done, whatever is still in that cgroup —
//! found by membership, not by walking the process tree — is ended at once
//! with `cgroup.kill` and the cgroup removed. Without cgroup v2, or with a
//! leaf serve does not own, rounds run where serve runs and the subreaper
//! sweep is the containment (silently).

use crate::sys::{cgroup, proc};
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// How long to wait for a killed cgroup to empty.
const EMPTY_WAIT: Duration = Duration::from_secs(5);
/// Poll period while it empties.
const TICK: Duration = Duration::from_millis(20);

/// A round's cgroup, created and open for the round child to join.
pub(super) struct RoundCgroup {
    cg: String,
    procs: File,
}

impl RoundCgroup {
    /// Create the cgroup for round `round_num`; `None` when rounds cannot
    /// have their own (no cgroup v2, a leaf we do not own, a kernel that
    /// refuses).
    pub(super) fn create(round_num: u64) -> Option<RoundCgroup> {
        let leaf = cgroup::own_path()?;
        if !cgroup::nestable(&leaf) {
            return None;
        }
        let cg = format!(
            "{}/agent-runner-{}-round-{round_num}",
            leaf.trim_end_matches('/'),
            std::process::id()
        );
        let dir = cgroup::dir(&cg);
        if let Err(e) = std::fs::create_dir(&dir) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                tracing::debug!("no round cgroup at '{}': {e}", dir.display());
                return None;
            }
        }
        // cgroupfs fills a new directory with its files; a plain directory
        // is not a cgroup
        let procs = match std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
        {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!("'{}' is not a cgroup: {e}", dir.display());
                let _ = std::fs::remove_dir(&dir);
                return None;
            }
        };
        Some(RoundCgroup { cg, procs })
    }

    /// The open `cgroup.procs` the round child writes itself into.
    pub(super) fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// End what is left in the cgroup (`cgroup.kill`), wait for it to empty
    /// and remove it. Returns the (pid, name) of the processes that were
    /// still in it.
    pub(super) fn end(self) -> Vec<(i32, String)> {
        let left: Vec<(i32, String)> = cgroup::procs(&self.cg)
            .into_iter()
            .map(|pid| (pid, name(pid)))
            .collect();
        if !left.is_empty() {
            if let Err(e) = cgroup::kill_all(&self.cg) {
                tracing::warn!("cannot kill what is left in cgroup '{}': {e}", self.cg);
            }
        }
        let deadline = Instant::now() + EMPTY_WAIT;
        while cgroup::populated(&self.cg) == Some(true) && Instant::now() < deadline {
            std::thread::sleep(TICK);
        }
        drop(self.procs);
        if let Err(e) = std::fs::remove_dir(cgroup::dir(&self.cg)) {
            tracing::warn!("cannot remove round cgroup '{}': {e}", self.cg);
        }
        left
    }
}

/// A process's name as the round events show it: argv[0]'s basename, else
/// its comm.
fn name(pid: i32) -> String {
    let argv = proc::argv(pid);
    match argv.first() {
        Some(a) => a.rsplit('/').next().unwrap_or(a).to_string(),
        None => proc::stat(pid).map(|s| s.comm).unwrap_or_default(),
    }
}
