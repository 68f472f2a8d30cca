//! The mid-round hard floor (0.3 delta §4.4), ticked by the round's wait
//! loop every [`super::tick`] while the agent runs. Each tick samples the
//! host and diffs against the previous tick (a per-interval rate):
//!
//! - a **critical** tick grows a streak (anything else resets it) and is
//!   recorded as `round_mem_critical_sample`, at most
//!   `2 × critical_consecutive_samples` per streak;
//! - at `critical_consecutive_samples` the round is terminated
//!   (`round_mem_terminated`, tier `terminate`), or — when serve's probe
//!   found the service capped end to end — left to the kernel's cgroup OOM
//!   (`mem_pressure_deferred_to_cgroup`, once per streak), or only counted
//!   when `in_round_terminate = false`;
//! - with `in_round_nudge`, the first critical tick of a streak that would
//!   end in a terminate sends the agent a bare SIGTERM (tier `nudge`);
//! - the growth rate of the round's memory (the bounding cgroup's
//!   `memory.current`, else the RSS of the agent's tree) at or above
//!   `cgroup_growth_rate_warning_mb_per_min` is `cgroup_growth_rate_warning`,
//!   once per crossing;
//! - the brake ([`super::brake`]) and the accounting ([`super::account`])
//!   ride the same tick.

use super::account::Account;
use super::brake::Brake;
use crate::config::{HostHealth, PressureHealth};
use crate::detect::window::Record;
use crate::detect::Severity;
use crate::detect::{memory_pressure, Pressure};
use crate::fields;
use crate::state::{EventLog, Kind};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the round's wait loop should do after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// A bare SIGTERM to the agent's leader; keep waiting.
    Nudge,
    /// End the agent (SIGTERM to its group, 15 s, SIGKILL).
    Terminate,
}

/// What a critical tick leads to (upstream's `_mid_round_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CountOnly,
    Nudge,
    Terminate,
    Defer,
}

/// The action for a critical tick, once `streak` counts it. The off switch
/// wins over the cgroup deferral; a deferral or a streak threshold of 1
/// leaves nothing for a nudge to move earlier.
pub fn action(p: &PressureHealth, defer: bool, streak: u64, nudged: bool) -> Action {
    if p.in_round_terminate && streak >= p.critical_consecutive_samples {
        return if defer {
            Action::Defer
        } else {
            Action::Terminate
        };
    }
    if p.in_round_nudge && !nudged && streak == 1 && p.in_round_terminate && !defer {
        return Action::Nudge;
    }
    Action::CountOnly
}

/// MB per minute between two readings (never negative); `None` without a
/// previous reading.
pub fn rate_mb_per_min(prev: Option<(u64, Instant)>, cur: u64, now: Instant) -> Option<f64> {
    let (b, t) = prev?;
    let secs = now.saturating_duration_since(t).as_secs_f64();
    if secs == 0.0 {
        return Some(0.0);
    }
    let mb = (cur as f64 - b as f64) / 1_048_576.0;
    Some((mb / (secs / 60.0)).max(0.0))
}

/// The growth-rate verdict (upstream's `cgroup_growth_rate_pressure`):
/// warning at or above the threshold, never critical.
pub fn growth_pressure(rate: Option<f64>, p: &PressureHealth) -> Option<Pressure> {
    let rate = rate?;
    let warn = p.cgroup_growth_rate_warning_mb_per_min;
    (rate >= warn).then(|| Pressure {
        severity: Severity::Warning,
        signal: "cgroup_growth_rate",
        message: format!("memory growing {rate:.0} MB/min (>= {warn:.0})"),
        context: json!({"rate_mb_per_min": rate, "threshold_mb_per_min": warn}),
    })
}

/// One round's floor.
pub struct Floor<'a> {
    log: &'a EventLog,
    hh: &'a HostHealth,
    round_num: u64,
    defer: bool,
    every: Duration,
    prev: Option<Record>,
    streak: u64,
    nudged: bool,
    defer_notified: bool,
    prev_mem: Option<(u64, Instant)>,
    growth_warned: bool,
    brake: Brake,
    account: Option<Account>,
    /// A `round_mem_terminated` was recorded (either tier).
    pub mem_terminated: bool,
}

impl<'a> Floor<'a> {
    /// The floor for round `round_num`: `defer` from the cgroup plan (for
    /// this round's agent), `brake_leaf` when the brake is armed.
    pub fn new(
        log: &'a EventLog,
        hh: &'a HostHealth,
        round_num: u64,
        defer: bool,
        brake_leaf: Option<String>,
    ) -> Floor<'a> {
        Floor {
            log,
            hh,
            round_num,
            defer,
            every: super::tick(),
            prev: None,
            streak: 0,
            nudged: false,
            defer_notified: false,
            prev_mem: None,
            growth_warned: false,
            brake: Brake::new(brake_leaf, &hh.brake),
            account: Account::start(),
            mem_terminated: false,
        }
    }

    /// One tick over a given sample (the ladder's input) and the round's
    /// memory reading; what the wait loop should do.
    pub fn step(&mut self, cur: Record, leader: i32, mem: Option<(u64, &'static str)>) -> Verdict {
        let prev = self.prev.take().unwrap_or_else(|| cur.clone());
        let pressure = memory_pressure(&cur, &prev, self.hh);
        self.prev = Some(cur);
        let now = Instant::now();
        let mut rate = None;
        if let Some((bytes, source)) = mem {
            rate = rate_mb_per_min(self.prev_mem, bytes, now);
            match growth_pressure(rate, &self.hh.pressure) {
                Some(g) if !self.growth_warned => {
                    self.growth_warned = true;
                    self.log.emit_or_warn(
                        Kind::CgroupGrowthRateWarning,
                        fields! {"round_num" => self.round_num, "rate_mb_per_min" => rate, "threshold_mb_per_min" => self.hh.pressure.cgroup_growth_rate_warning_mb_per_min, "source" => source, "context" => g.context},
                    );
                }
                Some(_) => {}
                None => self.growth_warned = false,
            }
            self.prev_mem = Some((bytes, now));
        }
        self.brake
            .tick(self.log, self.round_num, pressure.as_ref(), rate);
        let Some(p) = pressure.filter(|p| p.severity == Severity::Critical) else {
            self.streak = 0;
            self.defer_notified = false;
            return Verdict::Continue;
        };
        self.streak += 1;
        let cap = self
            .hh
            .pressure
            .critical_consecutive_samples
            .saturating_mul(2);
        if self.streak <= cap {
            self.log.emit_or_warn(
                Kind::RoundMemCriticalSample,
                fields! {"round_num" => self.round_num, "consecutive" => self.streak, "context" => p.context.clone()},
            );
        }
        match action(&self.hh.pressure, self.defer, self.streak, self.nudged) {
            Action::CountOnly => Verdict::Continue,
            Action::Nudge => {
                self.nudged = true;
                self.terminated(leader, &p, "nudge");
                Verdict::Nudge
            }
            Action::Terminate => {
                self.terminated(leader, &p, "terminate");
                Verdict::Terminate
            }
            Action::Defer => {
                if !self.defer_notified {
                    self.defer_notified = true;
                    self.log.emit_or_warn(
                        Kind::MemPressureDeferredToCgroup,
                        fields! {"pid" => leader, "signal" => p.signal, "message" => p.message},
                    );
                }
                Verdict::Continue
            }
        }
    }

    fn terminated(&mut self, leader: i32, p: &Pressure, tier: &str) {
        self.mem_terminated = true;
        self.log.emit_or_warn(
            Kind::RoundMemTerminated,
            fields! {"pid" => leader, "severity" => p.severity.as_str(), "signal" => p.signal, "message" => p.message, "consecutive" => self.streak, "context" => p.context, "tier" => tier, "round_num" => self.round_num},
        );
    }

    /// After the agent is gone: release the brake, then the round's cgroup
    /// accounting and OOM attribution (`exit_code` is the agent's).
    pub fn finish(mut self, exit_code: i32, round_log: &Path) {
        self.brake.finish(self.log, self.round_num);
        if let Some(a) = self.account.take() {
            a.finish(self.log, self.round_num, exit_code, round_log);
        }
    }
}

impl Floor<'_> {
    /// The period the wait loop should tick at.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// One tick: sample the host and the round's memory, then [`Floor::step`].
    pub fn tick(&mut self, leader: i32) -> Verdict {
        let mem = match self.account.as_mut() {
            Some(a) => a.tick().map(|b| (b, "cgroup")),
            None => crate::sys::proc::tree_rss_bytes(leader).map(|b| (b, "rss_sum")),
        };
        self.step(super::sample_record(), leader, mem)
    }
}

#[cfg(test)]
mod tests;
