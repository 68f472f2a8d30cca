//! The per-project round lock: `flock(LOCK_EX|LOCK_NB)` on
//! `agent-runner.lock` plus the `agent-runner.lock.holder` sidecar that tells a
//! contender who holds it (spec §6.2, 0.3 delta §3.2).

use serde_json::json;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another agent-runner is holding {path} ({holder})")]
    Held { path: PathBuf, holder: String },
    #[error("cannot open lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `flock` failed for a reason other than another holder.
    #[error("cannot lock {path}: {source} (the log_dir's filesystem must support flock; put log_dir on a local disk)")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A held lock; released (and the sidecar removed) on drop.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
    sidecar: Option<PathBuf>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(s) = &self.sidecar {
            let _ = std::fs::remove_file(s);
        }
    }
}

/// `flock(LOCK_EX|LOCK_NB)` on `file`: `Ok(true)` taken, `Ok(false)` held by
/// someone else (`EWOULDBLOCK`), any other failure an error.
fn lock_nb(file: &File) -> std::io::Result<bool> {
    loop {
        // SAFETY: flock on a valid descriptor we own; it touches no memory.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

fn try_flock(path: &Path) -> Result<Option<File>, LockError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(crate::state::layout::FILE_MODE)
        .open(path)
        .map_err(|source| LockError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    match lock_nb(&file) {
        Ok(true) => Ok(Some(file)),
        Ok(false) => Ok(None),
        Err(source) => Err(LockError::Lock {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Take the lock at `path`, writing `sidecar` with our identity. On contention
/// the error names the holder read from the sidecar.
pub fn acquire(path: &Path, sidecar: Option<&Path>) -> Result<LockGuard, LockError> {
    match try_flock(path)? {
        Some(file) => {
            if let Some(s) = sidecar {
                let me = std::process::id() as i32;
                let cmd: String = crate::sys::proc::cmdline(me)
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect();
                let v = json!({
                    "pid": me,
                    "started_at": crate::timefmt::now_iso_ms(),
                    "cmdline": cmd.trim(),
                    "create_time": crate::sys::proc::create_time(me),
                });
                let _ = crate::state::atomic::write_fast(
                    s,
                    crate::state::pyjson::to_line(&v).as_bytes(),
                );
            }
            Ok(LockGuard {
                _file: file,
                sidecar: sidecar.map(Path::to_path_buf),
            })
        }
        None => Err(LockError::Held {
            path: path.to_path_buf(),
            holder: sidecar
                .map(describe_holder)
                .unwrap_or_else(|| "holder unknown".into()),
        }),
    }
}

/// The holder recorded in a sidecar, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub pid: i32,
    pub started_at: Option<String>,
    pub cmdline: String,
    pub create_time: Option<f64>,
}

pub fn read_holder(sidecar: &Path) -> Option<Holder> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(sidecar).ok()?).ok()?;
    Some(Holder {
        pid: i32::try_from(v.get("pid")?.as_i64()?).ok()?,
        started_at: v
            .get("started_at")
            .and_then(|s| s.as_str())
            .map(String::from),
        cmdline: v
            .get("cmdline")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string(),
        create_time: v.get("create_time").and_then(|s| s.as_f64()),
    })
}

/// Upstream's holder description for the contention message.
pub fn describe_holder(sidecar: &Path) -> String {
    if !sidecar.exists() {
        return "holder unknown, sidecar missing".into();
    }
    let Some(h) = read_holder(sidecar) else {
        return "holder info unreadable".into();
    };
    if !crate::sys::proc::alive(h.pid) {
        return format!("stale sidecar, holder PID {} no longer alive", h.pid);
    }
    let age = h
        .started_at
        .as_deref()
        .and_then(crate::timefmt::parse_ts)
        .map(|t| (chrono::Utc::now() - t).num_seconds().max(0).to_string())
        .unwrap_or_else(|| "?".into());
    format!("held by PID {}, age {}s, cmd: {}", h.pid, age, h.cmdline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let l = d.path().join("agent-runner.lock");
        let s = d.path().join("agent-runner.lock.holder");
        let g = acquire(&l, Some(&s)).unwrap_or_else(|e| panic!("{e}"));
        let err = acquire(&l, Some(&s))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(&format!("held by PID {}", std::process::id())),
            "{err}"
        );
        drop(g);
        assert!(!s.exists());
        assert!(acquire(&l, Some(&s)).is_ok());
    }

    #[test]
    fn a_flock_error_is_an_error_not_held() {
        // An O_PATH descriptor cannot be locked (EBADF): that is a failure
        // to report, not another holder.
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let l = d.path().join("agent-runner.lock");
        std::fs::write(&l, "").unwrap_or_else(|e| panic!("{e}"));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(&l)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = lock_nb(&f);
        assert_eq!(
            r.as_ref().err().and_then(|e| e.raw_os_error()),
            Some(libc::EBADF),
            "{r:?}"
        );
        // contention is still "held"
        let a = std::fs::File::open(&l).unwrap_or_else(|e| panic!("{e}"));
        let b = std::fs::File::open(&l).unwrap_or_else(|e| panic!("{e}"));
        assert!(lock_nb(&a).is_ok_and(|t| t));
        assert!(lock_nb(&b).is_ok_and(|t| !t));
    }

    #[test]
    fn the_lock_and_its_sidecar_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let l = d.path().join("agent-runner.lock");
        let s = d.path().join("agent-runner.lock.holder");
        let _g = acquire(&l, Some(&s)).unwrap_or_else(|e| panic!("{e}"));
        for p in [&l, &s] {
            let mode = std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600), "{}", p.display());
        }
    }
}
