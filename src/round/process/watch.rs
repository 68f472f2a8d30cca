//! The hook through which the caller's knowledge of the agent's output
//! reaches the wait loop: an [`OutputWatch`], polled once a second, may end
//! the round early, and tells where the agent started another attempt after
//! a failure (a terminal marker before that point no longer arms
//! grace-after-result).

use super::{Waiter, MARKER_SCAN_INTERVAL};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Reads the round log as it grows and judges it (implemented by the round's
/// recognizers). `elapsed` is the time since the agent started.
pub trait OutputWatch: Send {
    /// Read what was appended; `Some(cause)` ends the round now (the cause
    /// is its `exit_cause`: `needs_input`, …). Asked again, it says so again.
    fn poll(&mut self, elapsed: Duration) -> Option<&'static str>;
    /// Log offset just past the newest line where the agent started another
    /// attempt after a failure: a terminal marker before it does not mean
    /// the run is over.
    fn retry_offset(&self) -> Option<u64>;
}

/// A watch shared between the wait loop and the caller, who reads its
/// findings after the round.
#[derive(Clone)]
pub struct SharedWatch(pub Arc<Mutex<dyn OutputWatch>>);

impl std::fmt::Debug for SharedWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedWatch")
    }
}

impl Waiter<'_> {
    /// Poll the output watch when due: `Some(cause)` ends the round.
    pub(super) fn watch_due(&mut self, now: Instant) -> Option<&'static str> {
        let watch = self.policy.watch.as_ref()?;
        if now < self.next_watch {
            return None;
        }
        self.next_watch = now + MARKER_SCAN_INTERVAL;
        let mut w = watch.0.lock().ok()?;
        w.poll(now.duration_since(self.start))
    }

    /// The agent started another attempt after the marker that armed the
    /// grace (pi writes its end-of-run record after every failed attempt,
    /// then retries): the marker no longer counts, the scan looks for the
    /// next one. Asks the watch to read up to now first.
    pub(super) fn retried_after_marker(&mut self, now: Instant) -> bool {
        let (Some(watch), Some(scan)) = (self.policy.watch.as_ref(), self.scan.as_mut()) else {
            return false;
        };
        let Some(marker_at) = scan.found_at() else {
            return false;
        };
        let retry_at = match watch.0.lock() {
            Ok(mut w) => {
                // an end it finds here is found again at its next poll
                let _ = w.poll(now.duration_since(self.start));
                w.retry_offset()
            }
            Err(_) => None,
        };
        if retry_at.is_some_and(|r| r > marker_at) {
            scan.rearm();
            self.result_seen = None;
            self.next_grace_check = None;
            self.extended = false;
            return true;
        }
        false
    }
}
