//! The `memory.high` soft brake (0.3 delta §4.9, off by default): armed only
//! when `[monitor.host_health.brake] memory_high` is on and our own cgroup
//! leaf is delegated. After `warning_consecutive_samples` ticks at warning
//! or worse it caps the leaf's `memory.high` at `memory.current × (1 − step
//! %)` (never below 64 MiB, never when the leaf holds under 128 MiB, never
//! raising an existing lower limit), remembering the old token; after as
//! many healthy ticks, and always at round end, it writes that token back.
//! A write error disarms it for the rest of the round. It writes only the
//! leaf's `memory.high`, nothing else, ever.

use crate::config::BrakeHealth;
use crate::detect::Pressure;
use crate::fields;
use crate::state::{EventLog, Kind};
use crate::sys::cgroup;
use std::time::Instant;

/// Never write a `memory.high` below this.
pub const MIN_HIGH: u64 = 64 * 1024 * 1024;
/// Do not engage while the leaf holds less than this.
pub const MIN_CURRENT: u64 = 128 * 1024 * 1024;

/// The `memory.high` to write for `current` bytes at `step_pct` %; `None`
/// when the leaf is too small to matter.
pub fn target(current: u64, step_pct: u64) -> Option<u64> {
    if current < MIN_CURRENT {
        return None;
    }
    let keep = 100u64.saturating_sub(step_pct.min(100));
    let t = u128::from(current) * u128::from(keep) / 100;
    Some(u64::try_from(t).unwrap_or(u64::MAX).max(MIN_HIGH))
}

/// What an engage attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engage {
    /// Nothing to do (leaf too small, unreadable, or already tighter).
    NoOp,
    Engaged {
        previous: String,
        written: u64,
        memory_current: u64,
    },
    Failed {
        errno: Option<i32>,
    },
}

/// Try to engage the brake on `leaf`.
pub fn engage(leaf: &str, step_pct: u64) -> Engage {
    let Some(current) = cgroup::read_finite(leaf, "memory.current") else {
        return Engage::NoOp;
    };
    let Some(t) = target(current, step_pct) else {
        return Engage::NoOp;
    };
    let Some(previous) = cgroup::read_raw(leaf, "memory.high") else {
        return Engage::NoOp;
    };
    if cgroup::parse_token(&previous).is_some_and(|p| t >= p) {
        return Engage::NoOp; // monotone: never raise a tighter limit
    }
    match cgroup::write_memory_high(leaf, &t.to_string()) {
        Ok(()) => Engage::Engaged {
            previous,
            written: t,
            memory_current: current,
        },
        Err(e) => Engage::Failed {
            errno: e.raw_os_error(),
        },
    }
}

/// What the brake's streaks call for on a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Hold,
    Engage,
    Release,
}

/// The brake's state across one round's ticks.
#[derive(Debug, Clone)]
pub struct Brake {
    /// The leaf to write; `None` when not armed.
    leaf: Option<String>,
    cfg: BrakeHealth,
    engaged: bool,
    previous: Option<String>,
    disarmed: bool,
    restore_failed: bool,
    warning_streak: u64,
    none_streak: u64,
}

impl Brake {
    /// A brake for one round: armed when `leaf` is given (on and delegated).
    pub fn new(leaf: Option<String>, cfg: &BrakeHealth) -> Brake {
        Brake {
            leaf,
            cfg: cfg.clone(),
            engaged: false,
            previous: None,
            disarmed: false,
            restore_failed: false,
            warning_streak: 0,
            none_streak: 0,
        }
    }

    /// True while `memory.high` holds our value.
    pub fn engaged(&self) -> bool {
        self.engaged
    }

    /// The streaks' verdict for one tick (`under_pressure`: the ladder says
    /// warning or worse): engage after `warning_consecutive_samples` such
    /// ticks (armed, not engaged, not disarmed), release after as many
    /// healthy ones.
    pub fn step(&mut self, under_pressure: bool) -> Step {
        let n = self.cfg.warning_consecutive_samples;
        if under_pressure {
            self.warning_streak += 1;
            self.none_streak = 0;
        } else {
            self.warning_streak = 0;
            self.none_streak += 1;
            if self.engaged && !self.restore_failed && self.none_streak >= n {
                return Step::Release;
            }
        }
        let armed = self.leaf.is_some() && !self.disarmed;
        if under_pressure && armed && !self.engaged && self.warning_streak >= n {
            return Step::Engage;
        }
        Step::Hold
    }

    /// One tick with this tick's ladder verdict (warning or worse, or none).
    pub fn tick(
        &mut self,
        log: &EventLog,
        round_num: u64,
        pressure: Option<&Pressure>,
        rate_mb_per_min: Option<f64>,
    ) {
        match (self.step(pressure.is_some()), pressure, self.leaf.clone()) {
            (Step::Release, _, _) => {
                if self.release(log, round_num, "recovered") {
                    self.engaged = false;
                    self.previous = None;
                } else {
                    self.restore_failed = true;
                }
            }
            (Step::Engage, Some(p), Some(leaf)) => {
                self.engage(log, round_num, &leaf, p, rate_mb_per_min)
            }
            _ => {}
        }
    }

    fn engage(
        &mut self,
        log: &EventLog,
        round_num: u64,
        leaf: &str,
        p: &Pressure,
        rate_mb_per_min: Option<f64>,
    ) {
        let t0 = Instant::now();
        let r = engage(leaf, self.cfg.memory_high_step_pct);
        let write_ms = t0.elapsed().as_millis() as u64;
        match r {
            Engage::NoOp => {}
            Engage::Engaged {
                previous,
                written,
                memory_current,
            } => {
                self.engaged = true;
                self.previous = Some(previous.clone());
                log.emit_or_warn(
                    Kind::MemoryHighEngaged,
                    fields! {"round_num" => round_num, "previous" => previous, "written" => written, "memory_current" => memory_current, "write_ms" => write_ms, "signal" => p.signal, "context" => p.context, "rate_mb_per_min" => rate_mb_per_min},
                );
            }
            Engage::Failed { errno } => {
                log.emit_or_warn(
                    Kind::MemoryHighWriteFailed,
                    fields! {"round_num" => round_num, "errno" => errno},
                );
                self.disarmed = true;
            }
        }
    }

    /// Round end: give back what we took.
    pub fn finish(&mut self, log: &EventLog, round_num: u64) {
        if self.engaged && self.release(log, round_num, "round_end") {
            self.engaged = false;
            self.previous = None;
        }
    }

    /// Write the remembered token back; `memory_high_released`, or
    /// `memory_high_write_failed` (errno null) when that fails.
    fn release(&mut self, log: &EventLog, round_num: u64, reason: &str) -> bool {
        let (Some(leaf), Some(prev)) = (self.leaf.as_deref(), self.previous.as_deref()) else {
            return false;
        };
        match cgroup::write_memory_high(leaf, prev) {
            Ok(()) => {
                log.emit_or_warn(
                    Kind::MemoryHighReleased,
                    fields! {"round_num" => round_num, "reason" => reason},
                );
                true
            }
            Err(_) => {
                log.emit_or_warn(
                    Kind::MemoryHighWriteFailed,
                    fields! {"round_num" => round_num, "errno" => serde_json::Value::Null},
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn engages_after_n_pressured_ticks_and_releases_after_n_healthy_ones() {
        let cfg = |n| BrakeHealth {
            memory_high: true,
            memory_high_step_pct: 0,
            warning_consecutive_samples: n,
        };
        let mut b = Brake::new(Some("/leaf".into()), &cfg(3));
        assert_eq!(b.step(true), Step::Hold);
        assert_eq!(b.step(true), Step::Hold);
        assert_eq!(b.step(true), Step::Engage);
        b.engaged = true;
        assert_eq!(b.step(true), Step::Hold, "engaged: no second write");
        assert_eq!(b.step(false), Step::Hold);
        assert_eq!(b.step(false), Step::Hold);
        assert_eq!(b.step(false), Step::Release);
        let mut unarmed = Brake::new(None, &cfg(1));
        assert_eq!(unarmed.step(true), Step::Hold);
    }

    #[test]
    fn target_caps_below_current_with_floors() {
        assert_eq!(target(100 * MIB, 10), None, "under 128 MiB: leave it");
        assert_eq!(
            target(400 * MIB, 0),
            Some(400 * MIB),
            "step 0: cap at current"
        );
        assert_eq!(target(400 * MIB, 25), Some(300 * MIB));
        assert_eq!(target(130 * MIB, 50), Some(65 * MIB));
        assert_eq!(target(128 * MIB, 50), Some(MIN_HIGH));
        assert_eq!(target(u64::MAX, 0), Some(u64::MAX));
    }
}
