//! The round process's "stop now" doorbell: a flag plus a non-blocking
//! self-pipe whose read end the wait loop polls next to the agent's pidfd.
//! `install_stop_handlers` routes SIGTERM, SIGINT and SIGHUP into it (the
//! handler only stores an atomic and `write(2)`s one byte: async-signal-safe),
//! so Ctrl-C or `systemctl stop` ends the agent's group instead of orphaning
//! it. It never signals anything itself.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use super::ProcessError;

#[derive(Debug)]
struct Inner {
    requested: AtomicBool,
    read: OwnedFd,
    write: OwnedFd,
}

/// A cloneable stop request shared between the signal handlers, other
/// threads and [`super::run`]. Once requested it stays requested.
#[derive(Debug, Clone)]
pub struct StopSignal {
    inner: Arc<Inner>,
}

/// Write end of the handler-connected pipe (-1 before installation).
static HANDLER_FD: AtomicI32 = AtomicI32::new(-1);
/// Set by the handler; read by `is_requested` of the installed signal.
static HANDLER_FIRED: AtomicBool = AtomicBool::new(false);
/// The last signal the handler received (0: none).
static HANDLER_SIGNAL: AtomicI32 = AtomicI32::new(0);
static INSTALLED: OnceLock<StopSignal> = OnceLock::new();

extern "C" fn on_signal(sig: libc::c_int) {
    HANDLER_FIRED.store(true, Ordering::SeqCst);
    HANDLER_SIGNAL.store(sig, Ordering::SeqCst);
    let fd = HANDLER_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = [1u8];
        // SAFETY: write(2) is async-signal-safe; the fd is a non-blocking pipe
        // kept open for the process lifetime by INSTALLED. A full pipe
        // (EAGAIN) is fine: it is already readable.
        unsafe {
            libc::write(fd, b.as_ptr().cast(), 1);
        }
    }
}

fn nonblocking_pipe() -> Result<(OwnedFd, OwnedFd), ProcessError> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(|e| ProcessError::Setup(format!("could not create the stop pipe: {e}")))?;
    Ok((r, w))
}

impl StopSignal {
    /// A stop signal not connected to any OS signal (tests, embedding).
    pub fn new() -> Result<Self, ProcessError> {
        let (read, write) = nonblocking_pipe()?;
        Ok(StopSignal {
            inner: Arc::new(Inner {
                requested: AtomicBool::new(false),
                read,
                write,
            }),
        })
    }

    /// Ask whoever waits on this to stop the agent now. Idempotent.
    pub fn request(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        let b = [1u8];
        // A full pipe or any error leaves it readable or the flag set; both
        // are enough for the waiter.
        let _ = nix::unistd::write(&self.inner.write, &b);
    }

    /// True once a stop was requested (by `request` or a caught signal).
    pub fn is_requested(&self) -> bool {
        if self.inner.requested.load(Ordering::SeqCst) {
            return true;
        }
        let installed = INSTALLED
            .get()
            .is_some_and(|s| Arc::ptr_eq(&s.inner, &self.inner));
        installed && HANDLER_FIRED.load(Ordering::SeqCst)
    }

    /// The caught signal that requested the stop (e.g. `libc::SIGINT`), if any.
    pub fn received_signal(&self) -> Option<i32> {
        let installed = INSTALLED
            .get()
            .is_some_and(|s| Arc::ptr_eq(&s.inner, &self.inner));
        let sig = HANDLER_SIGNAL.load(Ordering::SeqCst);
        (installed && sig != 0).then_some(sig)
    }

    /// Fd that becomes (and stays) readable once a stop is requested.
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.inner.read.as_fd()
    }
}

/// Install handlers for SIGTERM, SIGINT and SIGHUP that request a stop, and
/// return the process-wide [`StopSignal`] they feed (the same one on every
/// call). After this the round process no longer dies on those signals: the
/// caller must check [`StopSignal::is_requested`] and wind down itself.
/// A second signal does not shorten the stop grace (the kill ladder does not
/// watch the doorbell once it has started).
pub fn install_stop_handlers() -> Result<StopSignal, ProcessError> {
    if let Some(s) = INSTALLED.get() {
        return Ok(s.clone());
    }
    let stop = StopSignal::new()?;
    let stop = INSTALLED.get_or_init(|| stop).clone();
    HANDLER_FD.store(stop.inner.write.as_raw_fd(), Ordering::SeqCst);
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only touches atomics and calls write(2).
        unsafe { sigaction(sig, &action) }.map_err(|e| {
            ProcessError::Setup(format!("could not install the {sig} handler: {e}"))
        })?;
    }
    Ok(stop)
}
