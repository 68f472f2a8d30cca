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

fn try_flock(path: &Path) -> Result<Option<File>, LockError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o644)
        .open(path)
        .map_err(|source| LockError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    // SAFETY: flock on a valid descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(Some(file))
    } else {
        Ok(None)
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
                let _ = std::fs::write(s, crate::state::pyjson::to_line(&v));
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
}
