//! The input of one detector pass: a [`Window`] over recent events, the latest
//! metrics samples, tails of the newest round logs, the host's `now` and the
//! [`Thresholds`] derived from the config.
//!
//! A `Window` is plain data. Building it (reading files, or receiving frames
//! from a remote `probe`) happens elsewhere; detectors only read it.

use crate::config::{Config, HostHealth};
use chrono::{DateTime, Utc};
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One event or metrics record as parsed from its JSON line.
pub type Record = Map<String, Value>;

/// The thresholds the detectors use, from `[runtime]`, `[phases]` and `[monitor]`.
///
/// Serialisable so a remote `probe` can hand its host's effective thresholds
/// to the witness (patterns travel as their source text).
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
            supervisor_stale_threshold_s: cfg.supervisor_stale_threshold_s(),
            auth_fail_patterns: pats,
            auth_fail_hint: cfg.monitor.auth_fail_hint.clone(),
            host_health: cfg.monitor.host_health.clone(),
        }
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

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Regex>, D::Error> {
        let raw = Vec::<String>::deserialize(d)?;
        raw.iter()
            .map(|p| {
                RegexBuilder::new(p)
                    .case_insensitive(true)
                    .build()
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}
