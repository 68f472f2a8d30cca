//! The input of one detector pass: a [`Window`] over recent events, the latest
//! metrics samples, tails of the newest round logs, the host's `now` and the
//! [`Thresholds`] derived from the config.
//!
//! A `Window` is plain data. Building it (reading files, or receiving frames
//! from a remote `probe`) happens elsewhere; detectors only read it.

use crate::config::load::{clamp_of, CLAMPS};
use crate::config::{Config, HostHealth};
use chrono::{DateTime, Utc};
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One event or metrics record as parsed from its JSON line.
pub type Record = Map<String, Value>;

/// At most this many auth patterns are compiled from a remote host's hello.
pub const MAX_AUTH_PATTERNS: usize = 32;
/// The compiled size limit of one auth pattern from a remote host's hello
/// (the regex crate's default is 10 MiB), and of its lazy DFA's cache.
pub const AUTH_PATTERN_SIZE_LIMIT: usize = 64 * 1024;

/// The thresholds the detectors use, from `[runtime]`, `[phases]` and `[monitor]`.
///
/// Serialisable so a remote `probe` can hand its host's effective thresholds
/// to the witness (patterns travel as their source text; deserialising
/// compiles at most [`MAX_AUTH_PATTERNS`] of them, each within
/// [`AUTH_PATTERN_SIZE_LIMIT`]). A remote's values are held to the ranges of
/// [`crate::config::load::CLAMPS`] by [`Thresholds::clamp`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Thresholds {
    pub round_budget_s: u64,
    /// Per-phase budgets that override `round_budget_s`.
    pub phase_budgets: BTreeMap<String, u64>,
    /// 0 disables `supervisor_stale`.
    pub supervisor_stale_threshold_s: u64,
    /// Compiled case-insensitively.
    #[serde(with = "regex_list")]
    pub auth_fail_patterns: Vec<Regex>,
    pub auth_fail_hint: String,
    pub host_health: HostHealth,
}

impl Thresholds {
    /// The thresholds a config sets (defaults where it sets none).
    pub fn from_config(cfg: &Config) -> Thresholds {
        // The loader compiles these case-insensitively already; cloning a
        // Regex is a reference-count bump.
        let mut pats: Vec<Regex> = cfg.monitor.auth_fail_patterns.clone();
        if pats.is_empty() {
            pats = default_auth_patterns();
        }
        Thresholds {
            round_budget_s: cfg.runtime.round_budget_s,
            phase_budgets: cfg
                .phases
                .overrides
                .iter()
                .filter_map(|(k, o)| o.round_budget_s.map(|b| (k.clone(), b)))
                .collect(),
            // Derived from the round budget when not set: held to its range too.
            supervisor_stale_threshold_s: clamp_of("supervisor_stale_threshold_s")
                .map_or(cfg.supervisor_stale_threshold_s(), |c| {
                    c.apply(cfg.supervisor_stale_threshold_s())
                }),
            auth_fail_patterns: pats,
            auth_fail_hint: cfg.monitor.auth_fail_hint.clone(),
            host_health: cfg.monitor.host_health.clone(),
        }
    }

    /// Hold every value of [`CLAMPS`] to its range; one line per value
    /// changed, naming the key (as under a hello's `thresholds`).
    pub fn clamp(&mut self) -> Vec<String> {
        let mut changed = Vec::new();
        for c in CLAMPS {
            let Some(v) = self.slot(c.key) else {
                continue;
            };
            let got = c.apply(*v);
            if got != *v {
                changed.push(format!(
                    "thresholds.{}: {} is out of range {}..={}; using {got}",
                    c.key, *v, c.min, c.max
                ));
                *v = got;
            }
        }
        changed
    }

    /// The value of a clamped threshold, by its key in [`CLAMPS`].
    fn slot(&mut self, key: &str) -> Option<&mut u64> {
        let hh = &mut self.host_health;
        Some(match key {
            "supervisor_stale_threshold_s" => &mut self.supervisor_stale_threshold_s,
            "host_health.disk.growth_window_s" => &mut hh.disk.growth_window_s,
            "host_health.memory.avail_min_mb" => &mut hh.memory.avail_min_mb,
            "host_health.memory.free_low_mb" => &mut hh.memory.free_low_mb,
            "host_health.memory.swap_out_noise_floor_mb" => &mut hh.memory.swap_out_noise_floor_mb,
            _ => return None,
        })
    }

    /// The budget of a round in `phase`.
    pub fn budget_for(&self, phase: Option<&str>) -> u64 {
        phase
            .and_then(|p| self.phase_budgets.get(p).copied())
            .unwrap_or(self.round_budget_s)
    }
}

/// `[monitor] auth_fail_patterns`'s default, compiled case-insensitively once.
pub fn default_auth_patterns() -> Vec<Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        RegexBuilder::new(crate::config::DEFAULT_AUTH_FAIL_PATTERN)
            .case_insensitive(true)
            .build()
            .ok()
    })
    .iter()
    .cloned()
    .collect()
}

/// Everything one detector pass sees. Borrowed so a long-lived monitor does not
/// copy its rolling buffers every poll.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// Recent events, oldest first (the monitor keeps a bounded rolling buffer).
    pub events: &'a [Record],
    /// Recent metrics samples, oldest first.
    pub metrics: &'a [Record],
    /// Round number → last lines of its agent log (newest rounds only).
    pub log_tails: &'a BTreeMap<u64, String>,
    /// `status.json` as read, if any.
    pub status: Option<&'a Value>,
    /// The watched host's clock (never the watcher's, for remote hosts).
    pub now: DateTime<Utc>,
    pub thresholds: &'a Thresholds,
}

/// Serde for a list of case-insensitive patterns as their source strings.
mod regex_list {
    use regex::{Regex, RegexBuilder};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Regex], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(Regex::as_str))
    }

    /// At most [`MAX_AUTH_PATTERNS`](super::MAX_AUTH_PATTERNS), each compiled
    /// within [`AUTH_PATTERN_SIZE_LIMIT`](super::AUTH_PATTERN_SIZE_LIMIT).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Regex>, D::Error> {
        use serde::de::Error;
        let raw = Vec::<String>::deserialize(d)?;
        if raw.len() > super::MAX_AUTH_PATTERNS {
            return Err(D::Error::custom(format!(
                "auth_fail_patterns: {} patterns; at most {} are accepted",
                raw.len(),
                super::MAX_AUTH_PATTERNS
            )));
        }
        raw.iter()
            .enumerate()
            .map(|(i, p)| {
                RegexBuilder::new(p)
                    .case_insensitive(true)
                    .size_limit(super::AUTH_PATTERN_SIZE_LIMIT)
                    .dfa_size_limit(super::AUTH_PATTERN_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        let msg = e.to_string();
                        let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
                        D::Error::custom(format!("auth_fail_patterns[{i}]: {msg}"))
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clamp_names_a_threshold_and_clamping_holds_each_to_its_range() {
        let cfg =
            crate::config::default_config(std::path::Path::new("/w"), std::path::Path::new("/l"))
                .unwrap();
        let mut th = Thresholds::from_config(&cfg);
        assert!(th.clamp().is_empty(), "the defaults are in range");
        for c in CLAMPS {
            *th.slot(c.key)
                .unwrap_or_else(|| panic!("{} has no slot", c.key)) = u64::MAX;
        }
        let changed = th.clamp();
        assert_eq!(changed.len(), CLAMPS.len(), "{changed:?}");
        for c in CLAMPS {
            assert_eq!(*th.slot(c.key).unwrap(), c.max);
            assert!(changed
                .iter()
                .any(|l| l.contains(c.key) && !l.contains('\n')));
        }
    }

    #[test]
    fn the_default_auth_pattern_fits_the_remote_size_limit() {
        let v = serde_json::json!([crate::config::DEFAULT_AUTH_FAIL_PATTERN]);
        let got: Result<Vec<Regex>, _> = regex_list::deserialize(v);
        assert!(got.is_ok(), "{got:?}");
    }
}
