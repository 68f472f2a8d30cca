//! Containment after a child's tree has outlived it. `serve` and `round`
//! make themselves *child subreapers* ([`become_subreaper`],
//! `PR_SET_CHILD_SUBREAPER`): a process orphaned anywhere below them — a
//! `setsid` daemon whose parent exited, the agent of a round process that
//! died — is re-parented to them instead of to init, so it can still be
//! found by walking down from our own pid ([`leftovers`]) and ended
//! ([`end_all`]: SIGTERM, a grace, SIGKILL, each pid re-checked by start
//! time so a recycled pid is never hit). Zombies re-parented to us are
//! reaped by pid, never with `waitpid(-1)`, so a `Child` we still own is
//! never collected behind its back.

use super::proc::{self, Stat};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// Poll period while waiting for signalled processes to die.
const TICK: Duration = Duration::from_millis(50);

/// Make this process a child subreaper (Linux ≥ 3.4).
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments only; reads no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if r == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// True if this process is a child subreaper.
pub fn is_subreaper() -> bool {
    let mut v: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one c_int through the pointer,
    // which points at a live local of that type.
    let r = unsafe {
        libc::prctl(
            libc::PR_GET_CHILD_SUBREAPER,
            &mut v as *mut libc::c_int as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    r == 0 && v != 0
}

fn live(s: &Stat) -> bool {
    s.state != 'Z' && s.state != 'X'
}

/// True if the process at `s.pid` is still the one in `s` and alive.
pub fn still_same(s: &Stat) -> bool {
    proc::stat(s.pid).is_some_and(|now| now.start_ticks == s.start_ticks && live(&now))
}

/// Every live descendant of this process except `exclude` (children we
/// still own and wait for ourselves). As a subreaper, that is everything
/// orphaned below us.
pub fn leftovers(exclude: &[i32]) -> Vec<Stat> {
    let me = std::process::id() as i32;
    proc::descendants(me)
        .into_iter()
        .filter(|s| live(s) && !exclude.contains(&s.pid))
        .collect()
}

/// Reap zombies that are our children and not in `exclude`, by pid.
pub fn reap_zombies(exclude: &[i32]) {
    let me = std::process::id() as i32;
    for s in proc::all() {
        if s.ppid == me && s.state == 'Z' && !exclude.contains(&s.pid) {
            reap(s.pid);
        }
    }
}

/// Collect `pid` if it is our exited child (never blocks).
pub fn reap(pid: i32) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
}

/// End `procs`: SIGTERM to each that is still the same process, wait up to
/// `grace` for them to go, SIGKILL the survivors, wait a moment more, and
/// reap those that were our children. Returns the processes signalled.
pub fn end_all(procs: &[Stat], grace: Duration) -> Vec<Stat> {
    let targets: Vec<Stat> = procs.iter().filter(|s| still_same(s)).cloned().collect();
    if targets.is_empty() {
        return targets;
    }
    for s in &targets {
        let _ = kill(Pid::from_raw(s.pid), Signal::SIGTERM);
    }
    wait_gone(&targets, grace);
    for s in targets.iter().filter(|s| still_same(s)) {
        let _ = kill(Pid::from_raw(s.pid), Signal::SIGKILL);
    }
    wait_gone(&targets, Duration::from_secs(3));
    let me = std::process::id() as i32;
    for s in &targets {
        if proc::stat(s.pid).is_some_and(|n| n.ppid == me && n.start_ticks == s.start_ticks) {
            reap(s.pid);
        }
    }
    targets
}

/// Wait until none of `procs` is alive (zombies count as gone) or `limit`.
fn wait_gone(procs: &[Stat], limit: Duration) {
    let deadline = Instant::now() + limit;
    let me = std::process::id() as i32;
    loop {
        // our zombie children die only when reaped: collect them as we go
        for s in procs {
            if proc::stat(s.pid).is_some_and(|n| n.ppid == me && n.state == 'Z') {
                reap(s.pid);
            }
        }
        if !procs.iter().any(still_same) || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_all_terms_then_kills_and_skips_recycled_pids() {
        // one that dies on TERM, one that ignores it
        let mut a = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut b = std::process::Command::new("bash")
            .args(["-c", "trap '' TERM; while :; do sleep 0.1; done"])
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_millis(200));
        let sa = proc::stat(a.id() as i32).unwrap_or_else(|| panic!("stat a"));
        let sb = proc::stat(b.id() as i32).unwrap_or_else(|| panic!("stat b"));
        let mut fake = sa.clone();
        fake.start_ticks += 1; // "a recycled pid": must not be signalled
        assert!(end_all(&[fake], Duration::from_millis(100)).is_empty());
        let t0 = Instant::now();
        let done = end_all(&[sa, sb], Duration::from_millis(500));
        assert_eq!(done.len(), 2);
        assert!(t0.elapsed() < Duration::from_secs(5));
        // both were our children: already reaped or reapable now
        let _ = a.wait();
        let _ = b.wait();
    }
}
