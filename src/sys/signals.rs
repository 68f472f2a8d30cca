//! Process-wide signal capture: handlers that only count and write one byte
//! to a self-pipe. Two ways to use them: [`Signals`] for the supervisor (any
//! wait — `poll` on the pipe, optionally with a child's pidfd — wakes at once
//! on SIGTERM, SIGINT or SIGHUP), and [`install_interrupt`] for follow loops
//! (`watch`, `events --follow`, `monitor`): SIGINT/SIGTERM end them cleanly.

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigHandler, Signal};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

static PIPE_W: AtomicI32 = AtomicI32::new(-1);
static TERM: AtomicU32 = AtomicU32::new(0);
static INT: AtomicU32 = AtomicU32::new(0);
static HUP: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGTERM => TERM.fetch_add(1, Ordering::SeqCst),
        libc::SIGINT => INT.fetch_add(1, Ordering::SeqCst),
        _ => HUP.fetch_add(1, Ordering::SeqCst),
    };
    let fd = PIPE_W.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = [1u8];
        // SAFETY: write(2) is async-signal-safe; fd is our non-blocking pipe.
        unsafe {
            libc::write(fd, b.as_ptr().cast(), 1);
        }
    }
}

/// Counts of signals received since [`Signals::install`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub term: u32,
    pub int: u32,
    pub hup: u32,
}

impl Counts {
    pub fn any(&self) -> bool {
        self.term > 0 || self.int > 0 || self.hup > 0
    }
}

/// Why a wait returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    Timeout,
    Signal,
    /// The extra fd (e.g. a child's pidfd) became readable.
    Ready,
}

/// The installed handlers and the read end of the self-pipe.
#[derive(Debug)]
pub struct Signals {
    read: OwnedFd,
}

impl Signals {
    /// Install handlers for SIGTERM, SIGINT and SIGHUP (idempotent per process).
    pub fn install() -> std::io::Result<Signals> {
        let (r, w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(std::io::Error::from)?;
        let old = PIPE_W.swap(std::os::fd::IntoRawFd::into_raw_fd(w), Ordering::SeqCst);
        if old >= 0 {
            // SAFETY: closing the previous write end we own.
            unsafe {
                libc::close(old);
            }
        }
        for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            // SAFETY: the handler only touches atomics and calls write(2).
            unsafe { signal::signal(s, SigHandler::Handler(on_signal)) }
                .map_err(std::io::Error::from)?;
        }
        Ok(Signals { read: r })
    }

    pub fn counts(&self) -> Counts {
        Counts {
            term: TERM.load(Ordering::SeqCst),
            int: INT.load(Ordering::SeqCst),
            hup: HUP.load(Ordering::SeqCst),
        }
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while nix::unistd::read(self.read.as_fd().as_raw_fd_compat(), &mut buf).is_ok_and(|n| n > 0)
        {
        }
    }

    /// Wait up to `timeout` for a signal or for `extra` to become readable.
    /// A signal that arrived before the call is not lost (the pipe holds it).
    pub fn wait(&self, timeout: Duration, extra: Option<BorrowedFd<'_>>) -> Wake {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            let mut fds = vec![PollFd::new(self.read.as_fd(), PollFlags::POLLIN)];
            if let Some(e) = extra {
                fds.push(PollFd::new(e, PollFlags::POLLIN));
            }
            match nix::poll::poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) => return Wake::Timeout,
                Ok(_) => {
                    let ready = |i: usize| {
                        fds.get(i)
                            .and_then(|f| f.revents())
                            .is_some_and(|r| !r.is_empty())
                    };
                    if ready(0) {
                        self.drain();
                        return Wake::Signal;
                    }
                    if ready(1) {
                        return Wake::Ready;
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => {
                    std::thread::sleep(left.min(Duration::from_millis(50)));
                }
            }
            if Instant::now() >= deadline {
                return Wake::Timeout;
            }
        }
    }
}

/// Route SIGINT and SIGTERM to the counters so follow loops end cleanly
/// (exit 0). Installed without `SA_RESTART`: a blocking read or sleep returns
/// `EINTR` and the loop sees [`interrupted`] at once. SIGHUP keeps its default.
pub fn install_interrupt() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigSet};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches atomics and calls write(2).
        let _ = unsafe { sigaction(s, &act) };
    }
}

/// Has SIGINT or SIGTERM arrived?
pub fn interrupted() -> bool {
    TERM.load(Ordering::SeqCst) > 0 || INT.load(Ordering::SeqCst) > 0
}

/// Sleep `d`, waking early on an interrupt. Returns false if interrupted.
pub fn sleep_unless_interrupted(d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if interrupted() {
            return false;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    !interrupted()
}

trait RawCompat {
    fn as_raw_fd_compat(&self) -> RawFd;
}
impl RawCompat for BorrowedFd<'_> {
    fn as_raw_fd_compat(&self) -> RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self)
    }
}
