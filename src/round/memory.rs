//! The round's side of the coma preventer (0.3 delta §4.4, §4.7–§4.9): the
//! mid-round floor (`coma::floor`) set up for this round and ticked by the
//! agent's wait loop (`process::Ticker`). The round re-reads the cgroup plan
//! quietly (serve announced it at boot with `host_cgroup_memory_limit`); a
//! containerised agent never defers to our cgroup.

use super::process::{TickVerdict, Ticker};
use crate::coma::floor::{Floor, Verdict};
use crate::config::Config;
use crate::state::EventLog;
use std::time::Duration;

/// This round's floor.
pub(super) fn floor<'a>(
    cfg: &'a Config,
    log: &'a EventLog,
    round_num: u64,
    argv: &[String],
) -> Floor<'a> {
    let hh = &cfg.monitor.host_health;
    let plan = crate::coma::plan::probe(hh.brake.memory_high);
    let brake_leaf = plan
        .brake_armed(hh.brake.memory_high)
        .then(|| plan.leaf.clone())
        .flatten();
    Floor::new(log, hh, round_num, plan.defer_for(argv), brake_leaf)
}

/// The floor as the wait loop's ticker.
pub(super) struct Ticks<'f, 'a>(pub &'f mut Floor<'a>);

impl Ticker for Ticks<'_, '_> {
    fn every(&self) -> Option<Duration> {
        Some(self.0.every())
    }
    fn tick(&mut self, leader: i32) -> TickVerdict {
        match self.0.tick(leader) {
            Verdict::Continue => TickVerdict::Continue,
            Verdict::Nudge => TickVerdict::Nudge,
            Verdict::Terminate => TickVerdict::Terminate,
        }
    }
}
