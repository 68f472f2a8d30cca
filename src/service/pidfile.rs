//! Pid-file mode: `serve.pid` records (`{"pid", "create_time"}`, or a legacy
//! bare integer) and spawning a detached `serve` without systemd.

use crate::config::Config;
use crate::state::Layout;
use crate::sys::spawn::SpawnExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A `serve.pid` that exists but cannot be understood.
#[derive(Debug, thiserror::Error)]
#[error("'{path}' is corrupt: {why}")]
pub struct CorruptPidFile {
    pub path: PathBuf,
    pub why: String,
}

/// What `serve.pid` says.
#[derive(Debug, Clone, PartialEq)]
pub struct PidRecord {
    pub pid: i32,
    /// Start-time token; None for a legacy bare-integer file.
    pub create_time: Option<f64>,
}

impl PidRecord {
    /// True only if the pid is alive AND is the process that wrote the record.
    pub fn is_live(&self) -> bool {
        match self.create_time {
            Some(t) => crate::sys::proc::same_process(self.pid, t),
            None => {
                crate::sys::proc::alive(self.pid)
                    && crate::sys::proc::cmdline(self.pid)
                        .is_some_and(|c| c.contains("agent-runner") && c.contains("serve"))
            }
        }
    }

    /// Send `sig` to the recorded process only while [`is_live`](Self::is_live)
    /// proves it is the one that wrote the record, through a pidfd opened
    /// before that proof (a recycled pid is never signalled). `Ok(false)`:
    /// it is gone, nothing was sent.
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> std::io::Result<bool> {
        crate::sys::spawn::signal_checked(self.pid, sig, || self.is_live())
    }
}

/// Read `serve.pid`: Ok(None) if absent.
pub fn read(path: &Path) -> Result<Option<PidRecord>, CorruptPidFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CorruptPidFile {
                path: path.into(),
                why: e.to_string(),
            })
        }
    };
    let t = text.trim();
    if let Ok(pid) = t.parse::<i32>() {
        return Ok(Some(PidRecord {
            pid,
            create_time: None,
        }));
    }
    let v: serde_json::Value = serde_json::from_str(t).map_err(|e| CorruptPidFile {
        path: path.into(),
        why: format!("not a pid or JSON ({e})"),
    })?;
    let pid = v
        .get("pid")
        .and_then(|p| p.as_i64())
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| CorruptPidFile {
            path: path.into(),
            why: "no positive integer 'pid'".into(),
        })?;
    Ok(Some(PidRecord {
        pid,
        create_time: v.get("create_time").and_then(|c| c.as_f64()),
    }))
}

/// Start `serve` detached (own session, output appended to `log_dir/serve.log`)
/// and return its pid once it has written its pid file.
pub fn spawn_detached_serve(cfg: &Config) -> Result<i32, String> {
    let layout = Layout::new(&cfg.runtime.log_dir);
    crate::state::layout::create_dirs(&layout.log_dir)
        .map_err(|e| format!("cannot create log_dir '{}': {e}", layout.log_dir.display()))?;
    let out_path = layout.log_dir.join("serve.log");
    let out = crate::state::layout::open_append(&out_path)
        .map_err(|e| format!("cannot open '{}': {e}", out_path.display()))?;
    let exe =
        crate::sys::proc::self_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.output_to(out)
        .map_err(|e| e.to_string())?
        .arg("--config")
        .arg(&cfg.path)
        .arg("serve")
        .current_dir(&cfg.runtime.work_dir)
        .stdin(Stdio::null())
        .own_session();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start serve: {e}"))?;
    let pid = child.id() as i32;
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        if let Ok(Some(st)) = child.try_wait() {
            let tail = crate::state::events::tail_lines(&out_path, 3).join(" / ");
            return Err(format!(
                "serve exited at once ({st}); see '{}': {tail}",
                out_path.display()
            ));
        }
        if let Ok(Some(r)) = read(&layout.serve_pid()) {
            if r.pid == pid {
                // The child is reaped by init once we exit; keep no handle.
                std::mem::forget(child);
                return Ok(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "serve (pid {pid}) did not write its pid file within 15s; see '{}'",
        out_path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_legacy_and_rejects_garbage() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("serve.pid");
        assert_eq!(read(&p).ok(), Some(None));
        std::fs::write(&p, "1234").unwrap_or_default();
        assert_eq!(
            read(&p).ok(),
            Some(Some(PidRecord {
                pid: 1234,
                create_time: None
            }))
        );
        std::fs::write(&p, "{\"pid\": 7, \"create_time\": 1.5}").unwrap_or_default();
        assert_eq!(
            read(&p).ok(),
            Some(Some(PidRecord {
                pid: 7,
                create_time: Some(1.5)
            }))
        );
        std::fs::write(&p, "garbage").unwrap_or_default();
        assert!(read(&p).is_err());
        // a stale record naming pid 1 with a wrong token is not live
        assert!(!PidRecord {
            pid: 1,
            create_time: Some(1.0)
        }
        .is_live());
    }
}
