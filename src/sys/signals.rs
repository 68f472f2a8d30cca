//! The one place that catches signals. One handler for SIGTERM, SIGINT and
//! SIGHUP counts what arrived, remembers the last one and rings the process's
//! [`Doorbell`] — a sticky flag plus a non-blocking self-pipe — so that any
//! wait which polls the pipe (next to a child's pidfd, say) wakes at once.
//! Three ways to use it:
//!
//! - [`Signals`] for `serve`: counts, and [`Signals::wait`], which drains the
//!   pipe on waking so the next wait sleeps until the next signal;
//! - the round's sticky "stop now" (`round::process::StopSignal`), a view on
//!   the same doorbell that never drains it: once rung, it stays rung;
//! - [`install_interrupt`] for follow loops (`watch`, `events --follow`,
//!   `monitor`): SIGINT/SIGTERM end them cleanly, see [`interrupted`].
//!
//! Why `nix` and not `signal-hook`: `nix` is already how we `kill`, `poll` and
//! `pipe`, and the handler is a dozen lines. `signal-hook` would add a crate
//! for the same self-pipe, and its registry installs every handler with
//! `SA_RESTART`, while the follow loops rely on the opposite: their
//! interrupt handlers are installed without it, so a blocking read returns
//! `EINTR` at once.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Signals received since the process started, by kind.
static TERM: AtomicU32 = AtomicU32::new(0);
static INT: AtomicU32 = AtomicU32::new(0);
static HUP: AtomicU32 = AtomicU32::new(0);
/// The last signal the handler received (0: none).
static LAST: AtomicI32 = AtomicI32::new(0);
/// The doorbell the handler rings; created once, open for the process's life.
static PROCESS: OnceLock<Doorbell> = OnceLock::new();

/// The only signal handler. Async-signal-safe: atomics, a `OnceLock::get`
/// (an atomic load; it never blocks) and what [`record`] does.
extern "C" fn on_signal(sig: libc::c_int) {
    record(sig, PROCESS.get());
}

/// The handler's work: count `sig`, remember it, ring `bell`. errno is saved
/// first and restored last, so the interrupted code never sees the
/// handler's (ringing a full pipe sets it to `EAGAIN`); the test
/// `the_handler_leaves_errno_as_it_found_it` shows it.
fn record(sig: libc::c_int, bell: Option<&Doorbell>) {
    let saved = Errno::last_raw();
    match sig {
        libc::SIGTERM => TERM.fetch_add(1, Ordering::SeqCst),
        libc::SIGINT => INT.fetch_add(1, Ordering::SeqCst),
        _ => HUP.fetch_add(1, Ordering::SeqCst),
    };
    LAST.store(sig, Ordering::SeqCst);
    if let Some(bell) = bell {
        bell.ring();
    }
    Errno::set_raw(saved);
}

/// Why the handlers could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("could not create the signal pipe: {0}")]
    Pipe(std::io::Error),
    #[error("could not install the {0} handler: {1}")]
    Handler(Signal, Errno),
}

/// A sticky flag plus a non-blocking self-pipe: once rung
/// ([`Doorbell::ring`]) its flag stays set, and its [`fd`](Doorbell::fd)
/// stays readable until drained. Clones share one bell.
#[derive(Debug, Clone)]
pub struct Doorbell {
    inner: Arc<Bell>,
}

#[derive(Debug)]
struct Bell {
    rung: AtomicBool,
    read: OwnedFd,
    write: OwnedFd,
}

impl Doorbell {
    /// A bell of its own, rung only by [`Doorbell::ring`] (no signal rings it).
    pub fn new() -> std::io::Result<Doorbell> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        Ok(Doorbell {
            inner: Arc::new(Bell {
                rung: AtomicBool::new(false),
                read,
                write,
            }),
        })
    }

    /// Set the flag and make the fd readable. Idempotent; async-signal-safe
    /// (an atomic store and one `write(2)`), so the handler calls it too.
    pub fn ring(&self) {
        self.inner.rung.store(true, Ordering::SeqCst);
        // A full pipe (EAGAIN) is already readable; any other error leaves
        // the flag, which every waiter checks after it wakes.
        let _ = nix::unistd::write(&self.inner.write, &[1u8]);
    }

    /// True once rung (by [`Doorbell::ring`] or, for the process's bell, a signal).
    pub fn is_rung(&self) -> bool {
        self.inner.rung.load(Ordering::SeqCst)
    }

    /// Readable once rung; poll it next to other fds.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.read.as_fd()
    }

    /// Empty the pipe (the flag stays set).
    fn drain(&self) {
        let mut buf = [0u8; 64];
        while nix::unistd::read(self.inner.read.as_raw_fd(), &mut buf).is_ok_and(|n| n > 0) {}
    }
}

/// The doorbell the handler rings, created on first use.
fn process_doorbell() -> Result<&'static Doorbell, InstallError> {
    if let Some(bell) = PROCESS.get() {
        return Ok(bell);
    }
    let bell = Doorbell::new().map_err(InstallError::Pipe)?;
    // If another thread won the race, ours is dropped (closed) here.
    Ok(PROCESS.get_or_init(|| bell))
}

/// Route `sig` to [`on_signal`].
fn route(sig: Signal, flags: SaFlags) -> Result<(), InstallError> {
    let act = SigAction::new(SigHandler::Handler(on_signal), flags, SigSet::empty());
    // SAFETY: on_signal is async-signal-safe (see its doc): it touches only
    // atomics, an initialised OnceLock and write(2), and restores errno.
    unsafe { sigaction(sig, &act) }
        .map(|_| ())
        .map_err(|e| InstallError::Handler(sig, e))
}

/// Counts of signals received since the process started.
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

/// SIGTERM, SIGINT and SIGHUP routed to the handler (with `SA_RESTART`), and
/// the process's doorbell they ring. Every copy is the same process-wide state.
#[derive(Debug, Clone, Copy)]
pub struct Signals {
    bell: &'static Doorbell,
}

impl Signals {
    /// Install the handlers for SIGTERM, SIGINT and SIGHUP (idempotent per
    /// process). After this those signals no longer end the process: the
    /// caller watches [`Signals::counts`] or the doorbell and winds down itself.
    pub fn install() -> Result<Signals, InstallError> {
        // The bell first, so no signal after the handler is lost.
        let bell = process_doorbell()?;
        for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            route(sig, SaFlags::SA_RESTART)?;
        }
        Ok(Signals { bell })
    }

    pub fn counts(&self) -> Counts {
        Counts {
            term: TERM.load(Ordering::SeqCst),
            int: INT.load(Ordering::SeqCst),
            hup: HUP.load(Ordering::SeqCst),
        }
    }

    /// The last signal received (e.g. `libc::SIGINT`), if any.
    pub fn last(&self) -> Option<i32> {
        let sig = LAST.load(Ordering::SeqCst);
        (sig != 0).then_some(sig)
    }

    /// The doorbell every caught signal rings (sticky; never drained by
    /// anyone but [`Signals::wait`]).
    pub fn doorbell(&self) -> &'static Doorbell {
        self.bell
    }

    /// Wait up to `timeout` for a signal or for `extra` to become readable.
    /// A signal that arrived before the call is not lost (the pipe holds
    /// it); waking on one drains the pipe, so the next wait sleeps again.
    pub fn wait(&self, timeout: Duration, extra: Option<BorrowedFd<'_>>) -> Wake {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match super::spawn::poll_readable(&[Some(self.bell.fd()), extra], left) {
                Ok(ready) if ready.first() == Some(&true) => {
                    self.bell.drain();
                    return Wake::Signal;
                }
                Ok(ready) if ready.get(1) == Some(&true) => return Wake::Ready,
                Ok(_) => {}
                Err(_) => std::thread::sleep(left.min(Duration::from_millis(50))),
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
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let _ = route(sig, SaFlags::empty());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doorbell_stays_rung_and_readable_until_drained() {
        let bell = Doorbell::new().unwrap_or_else(|e| panic!("{e}"));
        let other = bell.clone();
        let ready = |b: &Doorbell| {
            crate::sys::spawn::poll_readable(&[Some(b.fd())], Duration::ZERO)
                .is_ok_and(|r| r == [true])
        };
        assert!(!bell.is_rung() && !ready(&bell));
        std::thread::spawn(move || other.ring())
            .join()
            .unwrap_or_else(|_| panic!("ring panicked"));
        bell.ring();
        assert!(bell.is_rung() && ready(&bell));
        assert!(ready(&bell), "polling does not consume the ring");
        bell.drain();
        assert!(bell.is_rung() && !ready(&bell));
    }

    #[test]
    fn the_handler_leaves_errno_as_it_found_it() {
        // A full pipe: the handler's write fails with EAGAIN, which must not
        // leak into the code the signal interrupted.
        let bell = Doorbell::new().unwrap_or_else(|e| panic!("{e}"));
        while nix::unistd::write(&bell.inner.write, &[0u8; 4096]).is_ok() {}
        assert_eq!(Errno::last(), Errno::EAGAIN, "the pipe is full");
        Errno::set_raw(libc::EOWNERDEAD);
        record(libc::SIGHUP, Some(&bell));
        assert_eq!(Errno::last_raw(), libc::EOWNERDEAD);
        assert!(bell.is_rung());
    }
}
