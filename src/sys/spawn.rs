//! Children in their own session, and waiting for them without a polling
//! loop. [`SpawnExt`] makes a spawned child a session leader (`setsid`, so
//! its pid is its pgid and sid, and a terminal's Ctrl-C reaches only us) and
//! sends its stdout and stderr to one file; [`pidfd_open`] gives an fd that
//! becomes readable when a process exits; [`poll_readable`] waits on such
//! fds and doorbells together; [`exited_unreaped`] asks whether a child has
//! exited without reaping it.
//!
//! Every `unsafe` block for starting and awaiting processes lives here.

use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

/// How our children are spawned.
pub trait SpawnExt {
    /// Make the child call `setsid(2)` before `exec`: a new session and
    /// process group whose ids are the child's pid. If that fails the spawn
    /// fails with the OS error.
    fn own_session(&mut self) -> &mut Self;

    /// Send the child's stdout and stderr to `file` (one open file
    /// description, so their writes interleave in order). Fails only if the
    /// descriptor cannot be duplicated.
    fn output_to(&mut self, file: File) -> std::io::Result<&mut Self>;
}

impl SpawnExt for Command {
    fn output_to(&mut self, file: File) -> std::io::Result<&mut Self> {
        let err = file.try_clone()?;
        Ok(self.stdout(file).stderr(err))
    }

    fn own_session(&mut self) -> &mut Self {
        // SAFETY: the closure runs in the forked child before exec, where
        // only async-signal-safe calls are allowed: setsid(2) is one, and
        // `last_os_error` only reads errno (no allocation, no lock). It
        // touches no Rust state shared with the parent.
        unsafe {
            self.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
    }
}

/// A pidfd for `pid` (Linux ≥ 5.3), readable once the process exits; `None`
/// if the kernel has no `pidfd_open` or the process is gone. Callers fall
/// back to a timed poll.
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: a plain syscall with integer arguments; it reads and writes no
    // memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: fd was just returned by the kernel (opened with O_CLOEXEC) and
    // is owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// True if `pid` (a child of ours) has exited, without reaping it: `WNOWAIT`
/// leaves the zombie in place, so the pid cannot be recycled before its
/// owner collects the status.
pub fn exited_unreaped(pid: i32) -> bool {
    // SAFETY: siginfo_t is plain data, valid when zeroed; waitid only writes
    // into it. (nix's `waitid` would refuse a child killed by a signal it has
    // no name for, e.g. SIGRTMIN, and report it as still running.)
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        rc == 0 && info.si_pid() == pid
    }
}

/// Block until one of `fds` is readable (or hung up) or `timeout` passes.
/// Returns which fds are readable, in order (`None` entries are skipped and
/// never readable): all false on timeout or when a signal interrupted the
/// wait. The timeout is rounded up to whole milliseconds, so a
/// sub-millisecond remainder does not spin.
pub fn poll_readable(fds: &[Option<BorrowedFd<'_>>], timeout: Duration) -> nix::Result<Vec<bool>> {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .flatten()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    let n = match nix::poll::poll(&mut pfds, timeout) {
        Ok(n) => n,
        Err(nix::errno::Errno::EINTR) => 0,
        Err(e) => return Err(e),
    };
    let readable = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
    let mut polled = pfds.iter();
    Ok(fds
        .iter()
        .map(|fd| {
            let p = fd.and_then(|_| polled.next());
            n > 0
                && p.and_then(|p| p.revents())
                    .is_some_and(|r| r.intersects(readable))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn own_session_makes_the_child_a_session_leader() {
        let mut child = Command::new("sleep")
            .arg("30")
            .own_session()
            .spawn()
            .unwrap_or_else(|e| panic!("spawn sleep: {e}"));
        let pid = child.id() as i32;
        let st = crate::sys::proc::stat(pid);
        let _ = child.kill();
        let _ = child.wait();
        let st = st.unwrap_or_else(|| panic!("no /proc/{pid}/stat"));
        assert_eq!((st.sid, st.pgid), (pid, pid));
    }

    #[test]
    fn output_to_sends_stdout_and_stderr_to_one_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("out.log");
        let file = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        let st = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; echo out2"])
            .output_to(file)
            .and_then(|c| c.status())
            .unwrap_or_else(|e| panic!("run sh: {e}"));
        assert!(st.success());
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, "out\nerr\nout2\n");
    }

    #[test]
    fn pidfd_becomes_readable_when_the_child_exits() {
        let mut child = Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap_or_else(|e| panic!("spawn sleep: {e}"));
        let Some(fd) = pidfd_open(child.id() as i32) else {
            // No pidfd_open (Linux < 5.3): callers fall back; nothing to test.
            let _ = child.wait();
            return;
        };
        let none = None;
        let r = poll_readable(&[none, Some(fd.as_fd())], Duration::ZERO);
        assert_eq!(r, Ok(vec![false, false]));
        let r = poll_readable(&[none, Some(fd.as_fd())], Duration::from_secs(30));
        assert_eq!(r, Ok(vec![false, true]));
        let _ = child.wait();
        assert!(pidfd_open(i32::MAX).is_none());
    }
}
