//! What a probe channel's output does to a link ([`Link::take_stdout`]):
//! bytes become bounded lines ([`Lines`]), lines become frames, frames go
//! into the [`super::HostView`] and out as reports. Everything here is
//! synchronous and does no I/O; the session feeds it each chunk read.
//!
//! Bad input ends the connection with a one-line error: a line longer than
//! a frame may be, a line that is not a frame after the hello (before it,
//! up to [`NOISE_BEFORE_HELLO`] are skipped: a login banner, a noisy shell
//! start-up file), a hello or snapshot the view refuses, the probe's own
//! `error` frame.

use super::super::frame;
use super::lines::Lines;
use super::{Applied, Ended, Link};

/// Lines that are not frames skipped before the hello; one more is an error.
pub(super) const NOISE_BEFORE_HELLO: u32 = 16;

/// One probe channel's reading state.
#[derive(Debug)]
pub(super) struct Intake {
    lines: Lines,
    hello_seen: bool,
    /// The first snapshot came (the backlog is complete): detect from now on.
    ready: bool,
    noise: u32,
}

impl Default for Intake {
    fn default() -> Intake {
        Intake {
            lines: Lines::new(frame::MAX_FRAME),
            hello_seen: false,
            ready: false,
            noise: 0,
        }
    }
}

impl Intake {
    pub(super) fn hello_seen(&self) -> bool {
        self.hello_seen
    }
}

/// What one chunk brought.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Took {
    /// Frames decoded.
    pub frames: usize,
    /// Something changed after the backlog: run the detectors.
    pub evaluate: bool,
}

impl Link {
    /// Take one chunk of the probe's stdout. `good` is set once a hello is
    /// taken (the connection works). Err: why the connection must end.
    pub(super) fn take_stdout(
        &mut self,
        intake: &mut Intake,
        d: &[u8],
        good: &mut bool,
    ) -> Result<Took, Ended> {
        if intake.lines.push(d) > 0 {
            return Err(Ended::Failed(format!(
                "the remote probe sent a line longer than the frame limit ({} KiB)",
                frame::MAX_FRAME / 1024
            )));
        }
        let mut took = Took::default();
        let mut changed = false;
        while let Some(raw) = intake.lines.next_line() {
            let text = String::from_utf8_lossy(raw);
            let f = match frame::decode(text.trim_end()) {
                Ok(f) => f,
                Err(e) if !intake.hello_seen && intake.noise < NOISE_BEFORE_HELLO => {
                    tracing::debug!("{}: skipped before the hello: {e}", self.spec.name);
                    intake.noise += 1;
                    continue;
                }
                Err(e) => {
                    return Err(Ended::Failed(format!(
                        "the remote probe sent a line that is not a frame ({e})"
                    )))
                }
            };
            took.frames += 1;
            match self.view.apply(f) {
                Applied::Hello(clamped) => {
                    intake.hello_seen = true;
                    *good = true;
                    for c in clamped {
                        tracing::warn!("host '{}': {c}", self.spec.name);
                    }
                    self.report_connected();
                }
                Applied::Event(line) => {
                    changed = true;
                    self.report_event(line);
                }
                Applied::Snapshot => {
                    changed = true;
                    intake.ready = true;
                }
                Applied::Notice(m) => self.report_notice(m),
                Applied::Error(e) => {
                    return Err(Ended::Failed(format!("the remote probe said: {e}")))
                }
                Applied::Refused(e) => {
                    return Err(Ended::Failed(format!("host '{}': {e}", self.spec.name)))
                }
                Applied::Nothing => {}
            }
            for m in self.view.take_notes() {
                self.report_notice(m);
            }
        }
        intake.lines.compact();
        took.evaluate = changed && intake.ready;
        Ok(took)
    }
}
