//! A short command run to completion under a wall-clock limit, used for the
//! `[goal]` checks. The command runs in its own session (so its process
//! group is its own), with stdin from `/dev/null`, stderr discarded and
//! stdout captured (its last [`KEEP_BYTES`] only). Past the limit the group
//! gets SIGTERM, then after [`GRACE`] SIGKILL. Once the command has exited,
//! whatever is left of its group is SIGKILLed too (before the leader is
//! reaped, so the group id cannot have been recycled), so nothing a check
//! starts outlives it. Reading the output after the exit is capped at
//! [`GRACE`] as well: a grandchild that left the group with `setsid` and
//! still holds the pipe cannot hold the caller. The whole run therefore
//! takes at most `limit + 3 × GRACE`.
//!
//! Waiting is on the child's pidfd and the pipe together (`poll`); a kernel
//! without pidfds falls back to a 50 ms tick.

use crate::sys::spawn::{exited_unreaped, pidfd_open, poll_readable, SpawnExt};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Grace between SIGTERM and SIGKILL, and the cap on reading after the exit.
pub const GRACE: Duration = Duration::from_secs(3);
/// How much of the end of stdout is kept.
pub const KEEP_BYTES: usize = 64 * 1024;
/// The poll tick when the kernel has no pidfds.
const TICK: Duration = Duration::from_millis(50);

/// How a bounded command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Its exit code; `None` when a signal ended it (or it could not be
    /// reaped, which only a process stuck in the kernel does).
    pub code: Option<i32>,
    /// The limit passed and the group was signalled.
    pub timed_out: bool,
    /// The last [`KEEP_BYTES`] of its stdout.
    pub stdout: Vec<u8>,
}

/// Why a bounded command could not start.
#[derive(Debug, thiserror::Error)]
pub enum BoundedError {
    #[error("empty command")]
    Empty,
    #[error("working directory '{}' is not a directory", .0.display())]
    Cwd(std::path::PathBuf),
    #[error("cannot run '{program}': {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
}

/// Run `argv` in `cwd` with `limit` (see the module documentation).
pub fn run(argv: &[String], cwd: &Path, limit: Duration) -> Result<Finished, BoundedError> {
    let program = argv.first().ok_or(BoundedError::Empty)?;
    if !cwd.is_dir() {
        return Err(BoundedError::Cwd(cwd.to_path_buf()));
    }
    let mut child = Command::new(program)
        .args(&argv[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .own_session()
        .spawn()
        .map_err(|source| BoundedError::Spawn {
            program: program.clone(),
            source,
        })?;
    let pid = child.id() as i32;
    let mut out = child.stdout.take();
    if let Some(o) = &out {
        let _ = set_nonblocking(o);
    }
    let pidfd = pidfd_open(pid);
    let started = Instant::now();
    let mut deadline = started + limit;
    let mut phase = Phase::Running;
    let mut kept: Vec<u8> = Vec::new();
    let mut exited_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if exited_at.is_none() && now >= deadline {
            match phase {
                Phase::Running => {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
                    phase = Phase::Termed;
                    deadline = now + GRACE;
                }
                Phase::Termed => {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                    phase = Phase::Killed;
                    deadline = now + GRACE;
                }
                // Unkillable (stuck in the kernel): stop waiting.
                Phase::Killed => break,
            }
        }
        if let Some(at) = exited_at {
            if out.is_none() || now >= at + GRACE {
                break;
            }
        }
        let wait_until = match exited_at {
            Some(at) => at + GRACE,
            None => deadline,
        };
        let mut wait = wait_until.saturating_duration_since(now);
        if pidfd.is_none() {
            wait = wait.min(TICK);
        }
        let fds = [
            pidfd
                .as_ref()
                .filter(|_| exited_at.is_none())
                .map(|f| f.as_fd()),
            out.as_ref().map(|o| o.as_fd()),
        ];
        let ready = poll_readable(&fds, wait).unwrap_or_else(|_| vec![false, false]);
        if ready.get(1).copied().unwrap_or(false) {
            if let Some(o) = out.as_mut() {
                if drain(o, &mut kept) {
                    out = None;
                }
            }
        }
        if exited_at.is_none()
            && (ready.first().copied().unwrap_or(false) || pidfd.is_none())
            && exited_unreaped(pid)
        {
            // The leader's zombie still holds the group id: clear the group.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            exited_at = Some(Instant::now());
        }
    }
    drop(out);
    trim(&mut kept);
    let code = if exited_at.is_some() {
        child.wait().ok().and_then(|s| s.code())
    } else {
        child.try_wait().ok().flatten().and_then(|s| s.code())
    };
    Ok(Finished {
        code,
        timed_out: phase != Phase::Running,
        stdout: kept,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Termed,
    Killed,
}

fn set_nonblocking(f: &impl AsRawFd) -> nix::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fd = f.as_raw_fd();
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Read what is there into `kept` (keeping its last [`KEEP_BYTES`]); true at
/// end of file or on an error.
fn drain(r: &mut impl Read, kept: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * KEEP_BYTES {
                    kept.drain(..kept.len() - KEEP_BYTES);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                trim(kept);
                return false;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                trim(kept);
                return true;
            }
        }
    }
}

fn trim(kept: &mut Vec<u8>) {
    if kept.len() > KEEP_BYTES {
        kept.drain(..kept.len() - KEEP_BYTES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn exit_code_and_output_tail() {
        let d = std::env::temp_dir();
        let f = run(
            &sh("head -c 200000 /dev/zero | tr '\\0' a; echo; echo last 7; exit 3"),
            &d,
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.code, Some(3));
        assert!(!f.timed_out);
        assert_eq!(f.stdout.len(), KEEP_BYTES);
        assert!(f.stdout.ends_with(b"\nlast 7\n"));
    }

    #[test]
    fn a_term_ignoring_command_is_killed_within_its_bounds() {
        let t = Instant::now();
        let f = run(
            &sh("trap '' TERM; echo started; sleep 60"),
            &std::env::temp_dir(),
            Duration::from_millis(300),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(f.timed_out);
        assert_eq!(f.code, None, "killed by a signal");
        assert_eq!(f.stdout, b"started\n");
        assert!(t.elapsed() < Duration::from_millis(300) + 3 * GRACE);
    }

    #[test]
    fn spawn_and_cwd_errors_name_what_is_wrong() {
        let e = run(
            &["/nonexistent/x".to_string()],
            &std::env::temp_dir(),
            Duration::from_secs(1),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.starts_with("cannot run '/nonexistent/x': "), "{e}");
        let e = run(
            &sh("true"),
            Path::new("/nonexistent/dir"),
            Duration::from_secs(1),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert_eq!(e, "working directory '/nonexistent/dir' is not a directory");
        assert!(matches!(
            run(&[], &std::env::temp_dir(), Duration::from_secs(1)),
            Err(BoundedError::Empty)
        ));
    }
}
