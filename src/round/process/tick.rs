//! A periodic check the wait loop runs while the agent lives: the coma
//! preventer's mid-round floor (0.3 delta §4.4) implements [`Ticker`] in the
//! `coma` module; the loop only keeps time and acts on the verdict — a bare
//! SIGTERM to the leader ([`TickVerdict::Nudge`]) or the memory kill ladder
//! ([`TickVerdict::Terminate`]: SIGTERM to the group, [`MEM_TERM_GRACE`],
//! SIGKILL to the group and every escapee).

use std::time::{Duration, Instant};

/// Grace between the memory floor's SIGTERM and SIGKILL (upstream's 15 s).
pub const MEM_TERM_GRACE: Duration = Duration::from_secs(15);

/// What the wait loop should do after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickVerdict {
    Continue,
    /// SIGTERM to the agent's leader only, without waiting; keep waiting.
    Nudge,
    /// End the agent: SIGTERM to its group, [`MEM_TERM_GRACE`], SIGKILL.
    Terminate,
}

/// A check run every [`Ticker::every`] while the agent runs.
pub trait Ticker {
    /// The period; `None` turns the ticks off.
    fn every(&self) -> Option<Duration>;
    /// One tick; `leader` is the agent's pid (= its group and session).
    fn tick(&mut self, leader: i32) -> TickVerdict;
}

/// No ticks at all (what [`super::run`] uses).
pub struct NoTicks;

impl Ticker for NoTicks {
    fn every(&self) -> Option<Duration> {
        None
    }
    fn tick(&mut self, _leader: i32) -> TickVerdict {
        TickVerdict::Continue
    }
}

/// When the next tick is due.
pub(super) struct Schedule {
    every: Option<Duration>,
    next: Option<Instant>,
}

impl Schedule {
    pub(super) fn new(t: &dyn Ticker, start: Instant) -> Self {
        let every = t.every().filter(|d| !d.is_zero());
        Schedule {
            every,
            next: every.map(|d| start + d),
        }
    }

    pub(super) fn next(&self) -> Option<Instant> {
        self.next
    }

    /// True (and the next tick scheduled) when a tick is due at `now`.
    pub(super) fn due(&mut self, now: Instant) -> bool {
        match (self.next, self.every) {
            (Some(t), Some(every)) if now >= t => {
                self.next = Some(now + every);
                true
            }
            _ => false,
        }
    }
}
