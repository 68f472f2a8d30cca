//! Per-round cgroup accounting and OOM attribution (0.3 delta §4.7). Only
//! when some ancestor of our cgroup has a finite `memory.max`; every read
//! goes to that bounding ancestor (resolved once at round start): its
//! `memory.events` counters as a baseline, the peaks of `memory.current`
//! and `memory.swap.current` over the floor's ticks, and at the end
//! `round_cgroup_memory` with the deltas — skipped, never zeros, when the
//! baseline could not be read or the directory vanished. A positive
//! `oom_kill` delta on a round whose agent died of SIGKILL (−9, or 137 from
//! a wrapper) is `round_oom_killed`, with a trailer on the round log. None
//! of it changes a verdict.

use crate::fields;
use crate::state::{EventLog, Kind};
use crate::sys::cgroup::{self, Events};
use serde_json::Value;
use std::path::Path;

/// The line appended to a round log the kernel's OOM cut short.
pub const OOM_TRAILER: &str = "\n[agent-runner] round log truncated: cgroup OOM-kill\n";

/// One round's accounting at the bounding ancestor.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub bounding: String,
    base: Option<Events>,
    pub peak_current: u64,
    pub peak_swap: u64,
}

impl Account {
    /// Start: `None` when nothing bounds this process (no cgroup v2, or no
    /// finite `memory.max` up to the root).
    pub fn start() -> Option<Account> {
        let leaf = cgroup::own_path()?;
        let (_, bounding) = cgroup::min_finite(&cgroup::ancestors(&leaf), "memory.max")?;
        Some(Account {
            base: cgroup::events(&bounding),
            peak_current: cgroup::read_finite(&bounding, "memory.current").unwrap_or(0),
            peak_swap: cgroup::read_finite(&bounding, "memory.swap.current").unwrap_or(0),
            bounding,
        })
    }

    /// One tick: update the peaks; the bounding cgroup's `memory.current`
    /// (`None` once its directory is gone).
    pub fn tick(&mut self) -> Option<u64> {
        if !cgroup::dir(&self.bounding).is_dir() {
            return None;
        }
        let cur = cgroup::read_finite(&self.bounding, "memory.current").unwrap_or(0);
        let swap = cgroup::read_finite(&self.bounding, "memory.swap.current").unwrap_or(0);
        self.peak_current = self.peak_current.max(cur);
        self.peak_swap = self.peak_swap.max(swap);
        Some(cur)
    }

    /// Round end: `round_cgroup_memory`, then `round_oom_killed` if the
    /// kernel's OOM killed this round's agent (`exit_code` −9 or 137).
    pub fn finish(mut self, log: &EventLog, round_num: u64, exit_code: i32, round_log: &Path) {
        if self.tick().is_none() {
            return; // vanished: cannot tell, so say nothing
        }
        let Some(base) = self.base else {
            return; // no baseline: a delta would be the cumulative counter
        };
        let cur = cgroup::events(&self.bounding).unwrap_or_default();
        let d = |now: u64, then: u64| now.saturating_sub(then);
        let oom_kill_delta = d(cur.oom_kill, base.oom_kill);
        let mut f = fields! {
            "round_num" => round_num,
            "memory_current_peak" => self.peak_current,
            "memory_swap_current_peak" => self.peak_swap,
            "events_high_delta" => d(cur.high, base.high),
            "events_max_delta" => d(cur.max, base.max),
            "events_oom_delta" => d(cur.oom, base.oom),
            "events_oom_kill_delta" => oom_kill_delta,
            "bounding_cgroup_path" => self.bounding,
        };
        let io = crate::sys::mem::psi("io");
        if let Some(p) = io {
            f.insert("io_psi_some_avg10".into(), p.some_avg10.into());
            f.insert("io_psi_full_avg10".into(), p.full_avg10.into());
        }
        if let Some(t) = crate::sys::mem::psi("memory").and_then(|p| p.full_total) {
            f.insert("psi_full_total".into(), Value::from(t));
        }
        log.emit_or_warn(Kind::RoundCgroupMemory, f);
        let killed = exit_code == -9 || exit_code == 137;
        if oom_kill_delta == 0 || !killed {
            return; // a sibling's OOM is not this round's
        }
        let log_bytes = std::fs::metadata(round_log).map_or(0, |m| m.len());
        let partial_log = mark_partial(round_log);
        log.emit_or_warn(
            Kind::RoundOomKilled,
            fields! {
                "round_num" => round_num,
                "log_path" => round_log.to_string_lossy(),
                "log_bytes" => log_bytes,
                "events_oom_kill_delta" => oom_kill_delta,
                "oom_kill_delta" => oom_kill_delta,
                "partial_log" => partial_log,
            },
        );
    }
}

/// Append [`OOM_TRAILER`] to the round log; true if it was written.
fn mark_partial(p: &Path) -> bool {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(p)
        .and_then(|mut f| f.write_all(OOM_TRAILER.as_bytes()))
        .is_ok()
}
