//! Children in their own session, and waiting for them without a polling
//! loop. [`SpawnExt`] makes a spawned child a session leader (`setsid`, so
//! its pid is its pgid and sid, and a terminal's Ctrl-C reaches only us) and
//! sends its stdout and stderr to one file, and can put it in a cgroup
//! before it runs a single instruction of its own; [`pidfd_open`] gives an fd that
//! becomes readable when a process exits; [`poll_readable`] waits on such
//! fds and doorbells together; [`exited_unreaped`] asks whether a child has
//! exited without reaping it; [`signal_checked`] signals a process proven by
//! its start time through a pidfd, so a recycled pid is never signalled.
//!
//! Every `unsafe` block for starting, awaiting and signalling processes by
//! pidfd lives here.

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
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

    /// Make the child move itself into a cgroup before `exec`, by writing
    /// `0` to `procs`, an open `cgroup.procs` the caller keeps open until
    /// the spawn returns (race-free: the child forks nothing before it is
    /// in). A failed write leaves it where it was, and the spawn goes on.
    fn join_cgroup(&mut self, procs: RawFd) -> &mut Self;
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

    fn join_cgroup(&mut self, procs: RawFd) -> &mut Self {
        // SAFETY: runs in the forked child before exec; write(2) is
        // async-signal-safe and reads a static buffer. `procs` is an fd the
        // parent keeps open across the spawn, inherited by the fork.
        unsafe {
            self.pre_exec(move || {
                let _ = libc::write(procs, b"0".as_ptr().cast(), 1);
                Ok(())
            })
        }
    }
}

/// A pidfd for `pid` (Linux ≥ 5.3), readable once the process exits; `None`
/// if the kernel has no `pidfd_open` or the process is gone. Callers fall
/// back to a timed poll.
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    open_pidfd(pid).ok()
}

/// [`pidfd_open`] with the reason it failed (`ESRCH`: no such process,
/// `ENOSYS`: a kernel without pidfds).
fn open_pidfd(pid: i32) -> std::io::Result<OwnedFd> {
    if pid <= 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: a plain syscall with integer arguments; it reads and writes no
    // memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd)
        .ok()
        .filter(|fd| *fd >= 0)
        .ok_or_else(std::io::Error::last_os_error)?;
    // SAFETY: fd was just returned by the kernel (opened with O_CLOEXEC) and
    // is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Send `sig` to the process `fd` refers to (`pidfd_send_signal(2)`): only
/// ever that process, never one that took its pid after it exited (then the
/// call fails with `ESRCH`).
pub fn pidfd_send_signal(fd: BorrowedFd<'_>, sig: Signal) -> std::io::Result<()> {
    // SAFETY: a plain syscall on a descriptor we borrow (valid for the call);
    // the siginfo pointer is null, which the kernel reads as "fill it in as
    // kill(2) does", and the flags are 0. No memory of ours is touched.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Send `sig` to `pid` only while it is still the process `is_it` vouches
/// for (a start-time check), with no window for pid reuse: a pidfd is opened
/// first, `is_it` runs after, and the signal goes through the pidfd, which
/// names the process that had the pid when it was opened and never a later
/// one. `Ok(true)`: sent; `Ok(false)`: gone, or not the process (nothing
/// sent); `Err`: the kernel refused (e.g. `EPERM`). On a kernel without
/// pidfds (Linux < 5.3) it falls back to check, then `kill(2)`.
pub fn signal_checked(
    pid: i32,
    sig: Signal,
    is_it: impl FnOnce() -> bool,
) -> std::io::Result<bool> {
    if pid <= 0 {
        return Ok(false);
    }
    let fd = match open_pidfd(pid) {
        Ok(fd) => Some(fd),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => None,
        Err(e) => return Err(e),
    };
    if !is_it() {
        return Ok(false);
    }
    let sent = match &fd {
        Some(fd) => pidfd_send_signal(fd.as_fd(), sig),
        None => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig)
            .map_err(std::io::Error::from),
    };
    match sent {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
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

    fn sleeper() -> (std::process::Child, i32) {
        let child = Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap_or_else(|e| panic!("spawn sleep: {e}"));
        let pid = child.id() as i32;
        (child, pid)
    }

    fn term_signal(mut child: std::process::Child) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        child.wait().ok().and_then(|st| st.signal())
    }

    #[test]
    fn a_signal_goes_through_the_pidfd_to_the_process_it_names() {
        let (child, pid) = sleeper();
        let fd = open_pidfd(pid)
            .unwrap_or_else(|e| panic!("pidfd_open({pid}): {e} (pidfds need Linux >= 5.3)"));
        pidfd_send_signal(fd.as_fd(), Signal::SIGTERM).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(term_signal(child), Some(libc::SIGTERM));
        // exited and reaped: the pidfd reaches nothing, whoever has the pid now
        let again = pidfd_send_signal(fd.as_fd(), Signal::SIGTERM);
        assert_eq!(
            again.err().and_then(|e| e.raw_os_error()),
            Some(libc::ESRCH)
        );
    }

    #[test]
    fn signal_checked_signals_only_the_process_its_start_time_proves() {
        let (mut child, pid) = sleeper();
        let t = crate::sys::proc::create_time(pid).unwrap_or_else(|| panic!("no start time"));
        let other = || crate::sys::proc::same_process(pid, t + 1000.0);
        assert!(matches!(
            signal_checked(pid, Signal::SIGTERM, other),
            Ok(false)
        ));
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "a pid whose start time does not match was signalled"
        );
        let it = || crate::sys::proc::same_process(pid, t);
        assert!(matches!(signal_checked(pid, Signal::SIGTERM, it), Ok(true)));
        assert_eq!(term_signal(child), Some(libc::SIGTERM));
        assert!(matches!(
            signal_checked(0, Signal::SIGTERM, || true),
            Ok(false)
        ));
        assert!(matches!(
            signal_checked(-1, Signal::SIGTERM, || true),
            Ok(false)
        ));
    }

    /// End `victim` and start a stranger with the same pid (through
    /// `ns_last_pid`; other forks on the machine may win the pid, so retry).
    fn recycle(mut victim: std::process::Child, pid: i32) -> std::process::Child {
        let _ = victim.kill();
        let _ = victim.wait();
        for _ in 0..1000 {
            std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
                .unwrap_or_else(|e| panic!("cannot write ns_last_pid (needs root): {e}"));
            let (mut s, got) = sleeper();
            if got == pid {
                return s;
            }
            let _ = s.kill();
            let _ = s.wait();
        }
        panic!("could not start a process with the recycled pid {pid}")
    }

    #[test]
    fn a_pid_recycled_between_the_check_and_the_signal_is_never_signalled() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (it recycles a pid through ns_last_pid); run the suite as root"
        );
        // The control: check, then kill(2) — what stop/kill/cancel did. The
        // pid is recycled right after the check passes; the stranger is hit.
        let (victim, pid) = sleeper();
        let mut stranger = None;
        let naive_check = || {
            stranger = Some(recycle(victim, pid));
            true
        };
        if naive_check() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
        }
        let stranger = stranger.unwrap_or_else(|| panic!("no stranger"));
        assert_eq!(
            term_signal(stranger),
            Some(libc::SIGTERM),
            "the control did not reproduce the race"
        );
        // signal_checked in the same race: the pidfd names the victim, so
        // the stranger is untouched.
        let (victim, pid) = sleeper();
        let mut stranger = None;
        let r = signal_checked(pid, Signal::SIGTERM, || {
            stranger = Some(recycle(victim, pid));
            true
        });
        let mut stranger = stranger.unwrap_or_else(|| panic!("no stranger"));
        let untouched = matches!(stranger.try_wait(), Ok(None));
        let _ = stranger.kill();
        let _ = stranger.wait();
        assert!(matches!(r, Ok(false)), "{r:?}");
        assert!(untouched, "the process that took the pid was signalled");
    }
}
