//! cgroup v2 reads for the memory defenses (0.3 delta §4.6–§4.9): the own
//! cgroup from the `0::` line of `/proc/self/cgroup`, its ancestors, their
//! `memory.*` files, delegation (checked with `access(2)`, never by
//! writing), the optional brake's write to `memory.high` of its own leaf
//! (the only file of the operator's cgroup the tool ever writes), and the
//! per-round child cgroups serve creates below a leaf it owns
//! ([`nestable`], [`procs`], [`populated`], [`kill_all`]).
//!
//! Paths go under [`mem::root`](super::mem::root) like every other memory
//! read (the `AGENT_RUNNER_SYS_ROOT` test hook). cgroup v2 counts as
//! present only when `/sys/fs/cgroup/cgroup.controllers` exists, as upstream
//! requires: a hybrid host (v1 controllers, a v2 tree at
//! `/sys/fs/cgroup/unified`) or a pure v1 host has none, and every function
//! here then answers "unknown" so the callers degrade silently.

use super::mem::{path, read_small};
use std::path::PathBuf;

/// Where the unified hierarchy is mounted.
pub const MOUNT: &str = "/sys/fs/cgroup";

/// True if the cgroup v2 hierarchy is mounted at [`MOUNT`].
pub fn v2_mounted() -> bool {
    path(&format!("{MOUNT}/cgroup.controllers")).exists()
}

/// True if the `memory` controller is available in the v2 hierarchy (the
/// root's `cgroup.controllers` lists it). Raspberry Pi OS images have needed
/// `cgroup_enable=memory` on the kernel command line for this.
pub fn memory_controller() -> bool {
    read_small(&path(&format!("{MOUNT}/cgroup.controllers")))
        .map(|s| s.split_whitespace().any(|c| c == "memory"))
        .unwrap_or(false)
}

/// This process's own cgroup v2 path (`/system.slice/x.service`), from the
/// `0::` line of `/proc/self/cgroup`; `None` without cgroup v2 or when the
/// line is missing or not a plain absolute path.
pub fn own_path() -> Option<String> {
    if !v2_mounted() {
        return None;
    }
    let text = read_small(&path("/proc/self/cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .and_then(|p| checked_path(p.trim_end()))
}

/// A cgroup path we are willing to join under the mount: absolute, no `..`,
/// no NUL (a v2 path from the kernel always qualifies).
pub fn checked_path(p: &str) -> Option<String> {
    let ok = p.starts_with('/')
        && !p.contains('\0')
        && p.split('/').all(|c| c != ".." && c != ".")
        && p.len() < 4096;
    ok.then(|| p.to_string())
}

/// The cgroup and every ancestor up to `/`, nearest first.
pub fn ancestors(cg: &str) -> Vec<String> {
    let parts: Vec<&str> = cg.split('/').filter(|p| !p.is_empty()).collect();
    let mut out: Vec<String> = (1..=parts.len())
        .rev()
        .map(|i| format!("/{}", parts[..i].join("/")))
        .collect();
    out.push("/".to_string());
    out
}

/// The directory of cgroup `cg` under the mount.
pub fn dir(cg: &str) -> PathBuf {
    path(MOUNT).join(cg.trim_start_matches('/'))
}

/// The raw, trimmed content of `file` in `cg` (`max`, a number, …).
pub fn read_raw(cg: &str, file: &str) -> Option<String> {
    read_small(&dir(cg).join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A limit or counter token as bytes: `max`, empty or garbage is `None`
/// (unlimited / unknown).
pub fn parse_token(t: &str) -> Option<u64> {
    if t == "max" {
        return None;
    }
    t.parse::<u64>().ok()
}

/// `file` of `cg` as a finite number (`None`: `max`, missing, garbage).
pub fn read_finite(cg: &str, file: &str) -> Option<u64> {
    read_raw(cg, file).as_deref().and_then(parse_token)
}

/// The smallest finite value of `file` over `ancestors`, and whose it is.
pub fn min_finite(ancestors: &[String], file: &str) -> Option<(u64, String)> {
    let mut best: Option<(u64, String)> = None;
    for a in ancestors {
        if let Some(v) = read_finite(a, file) {
            if best.as_ref().map_or(true, |(b, _)| v < *b) {
                best = Some((v, a.clone()));
            }
        }
    }
    best
}

/// The `memory.events` counters (absolute since the cgroup was created).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Events {
    pub high: u64,
    pub max: u64,
    pub oom: u64,
    pub oom_kill: u64,
}

/// Parse `memory.events` (`key value` lines); unknown keys are ignored.
pub fn parse_events(text: &str) -> Events {
    let mut e = Events::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let Ok(v) = v.parse::<u64>() else { continue };
        match k {
            "high" => e.high = v,
            "max" => e.max = v,
            "oom" => e.oom = v,
            "oom_kill" => e.oom_kill = v,
            _ => {}
        }
    }
    e
}

/// `memory.events` of `cg`; `None` when it cannot be read.
pub fn events(cg: &str) -> Option<Events> {
    read_small(&dir(cg).join("memory.events"))
        .ok()
        .map(|t| parse_events(&t))
}

/// Whether `leaf` is delegated to this process: the directory is owned by
/// our uid and both `cgroup.procs` and `memory.high` are writable
/// (`access(2)`, nothing is opened for writing). `None` when the directory
/// cannot be examined.
pub fn delegated(leaf: &str) -> Option<bool> {
    use nix::unistd::{access, AccessFlags};
    use std::os::unix::fs::MetadataExt;
    let d = dir(leaf);
    let owner = std::fs::metadata(&d).ok()?.uid();
    let uid_owned = owner == nix::unistd::getuid().as_raw();
    let w = |f: &str| access(&d.join(f), AccessFlags::W_OK).is_ok();
    Some(uid_owned && w("cgroup.procs") && w("memory.high"))
}

/// Write `token` (`max` or a decimal byte count) to `memory.high` of `leaf`,
/// opening with truncation (the brake's one write).
pub fn write_memory_high(leaf: &str, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dir(leaf).join("memory.high"))?;
    f.write_all(token.as_bytes())
}

/// Whether this process may create child cgroups under `leaf` and move
/// processes into them: the directory is owned by our uid and both it and
/// its `cgroup.procs` are writable (`access(2)`, nothing is written).
pub fn nestable(leaf: &str) -> bool {
    use nix::unistd::{access, AccessFlags};
    use std::os::unix::fs::MetadataExt;
    let d = dir(leaf);
    let owned = std::fs::metadata(&d).is_ok_and(|m| m.uid() == nix::unistd::getuid().as_raw());
    owned
        && access(&d, AccessFlags::W_OK).is_ok()
        && access(&d.join("cgroup.procs"), AccessFlags::W_OK).is_ok()
}

/// The pids listed in `cg`'s `cgroup.procs` (at most [`MAX_READ`] bytes of
/// it; unparseable lines are skipped).
///
/// [`MAX_READ`]: super::mem::MAX_READ
pub fn procs(cg: &str) -> Vec<i32> {
    read_small(&dir(cg).join("cgroup.procs"))
        .map(|t| {
            t.lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .filter(|p| *p > 0)
                .collect()
        })
        .unwrap_or_default()
}

/// `populated` of `cg`'s `cgroup.events`: whether any process is left in it
/// or below it (`None`: unreadable).
pub fn populated(cg: &str) -> Option<bool> {
    let t = read_small(&dir(cg).join("cgroup.events")).ok()?;
    t.lines()
        .find_map(|l| l.strip_prefix("populated "))
        .map(|v| v.trim() != "0")
}

/// SIGKILL every process in `cg` and below at once (`cgroup.kill`, Linux
/// ≥ 5.14); a kernel without it gets each listed pid SIGKILLed instead.
pub fn kill_all(cg: &str) -> std::io::Result<()> {
    use std::io::Write;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir(cg).join("cgroup.kill"));
    match f {
        Ok(mut f) => f.write_all(b"1"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            for pid in procs(cg) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_nearest_first_to_root() {
        assert_eq!(
            ancestors("/system.slice/ar.service"),
            vec!["/system.slice/ar.service", "/system.slice", "/"]
        );
        assert_eq!(ancestors("/"), vec!["/"]);
    }

    #[test]
    fn paths_that_could_escape_the_mount_are_refused() {
        assert_eq!(checked_path("/a/b").as_deref(), Some("/a/b"));
        assert_eq!(checked_path("/"), Some("/".into()));
        for bad in ["a/b", "/a/../../etc", "/./x", ""] {
            assert_eq!(checked_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tokens_and_events_parse_untrusted_text() {
        assert_eq!(parse_token("max"), None);
        assert_eq!(parse_token(""), None);
        assert_eq!(parse_token("-5"), None);
        assert_eq!(parse_token("536870912"), Some(536870912));
        let e = parse_events(
            "low 0\nhigh 4\nmax 3\noom 2\noom_kill 1\noom_group_kill 9\nbogus\nhigh x y\n",
        );
        assert_eq!(
            e,
            Events {
                high: 4,
                max: 3,
                oom: 2,
                oom_kill: 1
            }
        );
    }
}
