//! Facts about live processes read from `/proc`: start time (the token that
//! guards against pid reuse), command line, parent, process group, session,
//! state. Read-only; signalling lives with the code that owns the process.

use std::path::{Path, PathBuf};

/// Names the command that runs this agent-runner when it is started through a
/// wrapper (e.g. `qemu-aarch64` in the e2e lab, where the kernel cannot exec
/// the binary itself): what agent-runner spawns of itself (the detached
/// serve, each round, the demo) is started with it.
pub const SELF_EXE_ENV: &str = "AGENT_RUNNER_EXE";

/// The command to spawn this agent-runner again: `$AGENT_RUNNER_EXE` if set,
/// else `/proc/self/exe`.
pub fn self_exe() -> std::io::Result<PathBuf> {
    match std::env::var_os(SELF_EXE_ENV).filter(|v| !v.is_empty()) {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe(),
    }
}

/// One `/proc/<pid>/stat` record (the fields we use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// Start time in clock ticks since boot.
    pub start_ticks: u64,
}

/// Parse `/proc/<pid>/stat`. `None` if the process is gone.
pub fn stat(pid: i32) -> Option<Stat> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&s)
}

fn parse_stat(s: &str) -> Option<Stat> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let pid = s[..open].trim().parse().ok()?;
    let comm = s[open + 1..close].to_string();
    let rest: Vec<&str> = s[close + 1..].split_whitespace().collect();
    // rest[0] = state (field 3), rest[1] = ppid (4), rest[2] = pgrp (5),
    // rest[3] = session (6), rest[19] = starttime (22)
    Some(Stat {
        pid,
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        pgid: rest.get(2)?.parse().ok()?,
        sid: rest.get(3)?.parse().ok()?,
        start_ticks: rest.get(19)?.parse().ok()?,
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn boot_time() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Process start time as Unix epoch seconds (psutil's `create_time`).
pub fn create_time(pid: i32) -> Option<f64> {
    let st = stat(pid)?;
    Some(boot_time()? + st.start_ticks as f64 / clock_ticks())
}

/// Seconds since `pid` started.
pub fn age_s(pid: i32) -> Option<f64> {
    create_time(pid).map(|t| chrono::Utc::now().timestamp_millis() as f64 / 1000.0 - t)
}

/// True if `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match stat(pid) {
        Some(s) => s.state != 'Z' && s.state != 'X',
        None => false,
    }
}

/// True if `pid` is alive and started at `token` (±1 s), so it is the same
/// process that wrote the token and not a recycled pid.
pub fn same_process(pid: i32, token: f64) -> bool {
    alive(pid) && create_time(pid).is_some_and(|t| (t - token).abs() <= 1.0)
}

/// The command line with NULs as spaces, trimmed.
pub fn cmdline(pid: i32) -> Option<String> {
    let b = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let s: String = String::from_utf8_lossy(&b).replace('\0', " ");
    Some(s.trim().to_string())
}

/// argv as a vector.
pub fn argv(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every live process's stat record.
pub fn all() -> Vec<Stat> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter_map(stat)
        .collect()
}

/// All descendants of `root` (not including it), by walking ppid links over
/// one snapshot of `/proc`.
pub fn descendants(root: i32) -> Vec<Stat> {
    descendants_in(&all(), root)
}

/// Descendants of `root` within a snapshot.
pub fn descendants_in(snapshot: &[Stat], root: i32) -> Vec<Stat> {
    let mut out: Vec<Stat> = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for s in snapshot.iter().filter(|s| s.ppid == p) {
            if !out.iter().any(|o| o.pid == s.pid) {
                frontier.push(s.pid);
                out.push(s.clone());
            }
        }
    }
    out
}

/// Resident set size of `pid` in bytes (`/proc/<pid>/statm`, field 2 ×
/// the page size); `None` if the process is gone or the file is garbled.
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.checked_mul(u64::try_from(page).ok().filter(|p| *p > 0)?)
}

/// RSS summed over `root` and all its descendants (one `/proc` snapshot);
/// `None` when `root` itself is gone. A member that vanishes mid-walk is
/// skipped.
pub fn tree_rss_bytes(root: i32) -> Option<u64> {
    let mut total = rss_bytes(root)?;
    for d in descendants(root) {
        total = total.saturating_add(rss_bytes(d.pid).unwrap_or(0));
    }
    Some(total)
}

/// Live processes whose process group is `pgid`.
pub fn in_group(pgid: i32) -> Vec<Stat> {
    all()
        .into_iter()
        .filter(|s| s.pgid == pgid && s.state != 'Z')
        .collect()
}

/// True if `path` exists in /proc (so /proc is mounted).
pub fn procfs_available() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// Live processes whose environment has `key=value` (e.g. every process a
/// project's rounds started, found by `AGENT_RUNNER_LOG_DIR`, even those that
/// escaped with `setsid` and a double fork). Processes we may not read are
/// skipped.
pub fn with_env(key: &str, value: &str) -> Vec<Stat> {
    let needle = format!("{key}={value}");
    all()
        .into_iter()
        .filter(|s| s.state != 'Z')
        .filter(|s| {
            std::fs::read(format!("/proc/{}/environ", s.pid))
                .map(|b| b.split(|c| *c == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comm_with_spaces_and_parens() {
        let s = "123 (a (b) c) S 1 123 123 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0";
        let st = parse_stat(s).unwrap_or_else(|| panic!("parse"));
        assert_eq!(st.comm, "a (b) c");
        assert_eq!(st.ppid, 1);
        assert_eq!(st.start_ticks, 4242);
    }

    #[test]
    fn self_is_alive_with_token() {
        let me = std::process::id() as i32;
        let t = create_time(me).unwrap_or_else(|| panic!("create_time"));
        assert!(same_process(me, t));
        assert!(!same_process(me, t - 100.0));
    }
}
