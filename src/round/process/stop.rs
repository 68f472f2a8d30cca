//! The round process's sticky "stop now": a view on a
//! [`Doorbell`](crate::sys::signals::Doorbell) whose fd the wait loop polls
//! next to the agent's pidfd. [`install_stop_handlers`] makes it the view on
//! the process's signal doorbell (`sys::signals`), so SIGTERM, SIGINT or
//! SIGHUP — Ctrl-C, `systemctl stop` — ends the agent's group instead of
//! orphaning it; [`StopSignal::new`] makes one of its own that only
//! [`StopSignal::request`] rings (tests, embedding). The round never drains
//! the doorbell: once requested, a stop stays requested. It never signals
//! anything itself.

use std::os::fd::BorrowedFd;

use super::ProcessError;
use crate::sys::signals::{Doorbell, Signals};

/// A cloneable stop request shared between the signal handlers, other
/// threads and [`super::run`]. Once requested it stays requested.
#[derive(Debug, Clone)]
pub struct StopSignal {
    bell: Doorbell,
    /// Set when `bell` is the process's signal doorbell.
    signals: Option<Signals>,
}

impl StopSignal {
    /// A stop signal not connected to any OS signal (tests, embedding).
    pub fn new() -> Result<Self, ProcessError> {
        let bell = Doorbell::new()
            .map_err(|e| ProcessError::Setup(format!("could not create the stop pipe: {e}")))?;
        Ok(StopSignal {
            bell,
            signals: None,
        })
    }

    /// Ask whoever waits on this to stop the agent now. Idempotent.
    pub fn request(&self) {
        self.bell.ring();
    }

    /// True once a stop was requested (by `request` or a caught signal).
    pub fn is_requested(&self) -> bool {
        self.bell.is_rung()
    }

    /// The caught signal that requested the stop (e.g. `libc::SIGINT`), if any.
    pub fn received_signal(&self) -> Option<i32> {
        self.signals.and_then(|s| s.last())
    }

    /// Fd that becomes (and stays) readable once a stop is requested.
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.bell.fd()
    }
}

/// Install handlers for SIGTERM, SIGINT and SIGHUP that request a stop, and
/// return the process-wide [`StopSignal`] they feed (a view on the same
/// doorbell on every call). After this the round process no longer dies on
/// those signals: the caller must check [`StopSignal::is_requested`] and
/// wind down itself. A second signal does not shorten the stop grace (the
/// kill ladder does not watch the doorbell once it has started).
pub fn install_stop_handlers() -> Result<StopSignal, ProcessError> {
    let signals = Signals::install().map_err(|e| ProcessError::Setup(e.to_string()))?;
    Ok(StopSignal {
        bell: signals.doorbell().clone(),
        signals: Some(signals),
    })
}
