//! `[monitor]`: the witness's settings (auth-failure patterns and hint,
//! which detectors may auto-stop, remote failure tolerance, the repetition
//! anomaly, progress and staleness intervals) and `[monitor.host_health]`,
//! read from the 0.3 sub-tables (`memory`, `disk`, `pressure`, `brake`) or
//! the 0.2 flat keys, never both for one setting.
//!
//! The thresholds the detectors do time or size arithmetic with are held to
//! the ranges of [`CLAMPS`]: a value above its maximum is clamped with a
//! one-line warning naming the file and the key (the witness clamps a remote
//! host's hello to the same ranges).

use super::keys::{allowed, hh_flat, join, HH_SUBTABLES};
use super::values::one_line_regex_error;
use super::{Loader, R};
use crate::config::{
    BrakeHealth, DiskHealth, HostHealth, MemoryHealth, MonitorConfig, PressureHealth,
    DEFAULT_AUTH_FAIL_PATTERN,
};
use regex::Regex;
use std::collections::BTreeMap;
use toml::{Table, Value};

const REMOTE_TOLERANCE_MAX: i64 = 3600;
const BRAKE_STEP_MAX: i64 = 50;
const DAY_S: u64 = 86_400;
/// 1 TiB in MiB.
const TIB_MB: u64 = 1 << 20;

/// A threshold the detectors do time or size arithmetic with, and the range
/// it is held to. `key` is its path under `[monitor]`, which is also its path
/// under a hello's `thresholds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clamp {
    pub key: &'static str,
    pub min: u64,
    pub max: u64,
}

impl Clamp {
    /// `v` within the range.
    pub fn apply(&self, v: u64) -> u64 {
        v.clamp(self.min, self.max)
    }
}

/// Every clamped threshold (docs/configuration.md lists them).
pub const CLAMPS: &[Clamp] = &[
    Clamp {
        key: "supervisor_stale_threshold_s",
        min: 0,
        max: 30 * DAY_S,
    },
    Clamp {
        key: "host_health.disk.growth_window_s",
        min: 1,
        max: 7 * DAY_S,
    },
    Clamp {
        key: "host_health.memory.avail_min_mb",
        min: 0,
        max: TIB_MB,
    },
    Clamp {
        key: "host_health.memory.free_low_mb",
        min: 1,
        max: TIB_MB,
    },
    Clamp {
        key: "host_health.memory.swap_out_noise_floor_mb",
        min: 1,
        max: TIB_MB,
    },
];

/// The clamp of `key` (a path under `[monitor]`), if it has one.
pub fn clamp_of(key: &str) -> Option<&'static Clamp> {
    CLAMPS.iter().find(|c| c.key == key)
}

/// Values read from `[monitor.host_health]`, with the name each was written as.
type HhValues<'a> = BTreeMap<(&'static str, &'static str), (&'a Value, String)>;

impl Loader {
    pub(super) fn monitor(&self, t: &Table) -> R<MonitorConfig> {
        self.check_keys(t, "monitor", &allowed("monitor"))?;
        let nonneg = |key: &str, default: u64| -> R<u64> {
            Ok(self
                .opt(t, "monitor", key, Self::nonneg_int)?
                .unwrap_or(default))
        };
        let auth_fail_patterns = self
            .opt(t, "monitor", "auth_fail_patterns", |l, v, key| {
                l.regex_list(v, key, true)
            })?
            .unwrap_or_default();
        let auth_fail_patterns = if auth_fail_patterns.is_empty() {
            // An empty list falls back to the default pattern (upstream rule).
            Regex::new(&format!("(?i){DEFAULT_AUTH_FAIL_PATTERN}"))
                .map(|r| vec![r])
                .map_err(|e| self.err("monitor.auth_fail_patterns", one_line_regex_error(&e)))?
        } else {
            auth_fail_patterns
        };
        let auto_stop_on = match t.get("auto_stop_on") {
            Some(v) => {
                let names = self.str_list(v, "monitor.auto_stop_on")?;
                if let Some((i, n)) = names
                    .iter()
                    .enumerate()
                    .find(|(_, n)| n.starts_with("goal"))
                {
                    return Err(self.err(
                        &format!("monitor.auto_stop_on[{i}]"),
                        format!("'{n}' is not allowed: goal kinds are advisory and can never stop the service"),
                    ));
                }
                names
            }
            None => vec!["oauth_fail".to_string(), "disk_critical".to_string()],
        };
        let remote_failure_tolerance_s = self
            .opt(t, "monitor", "remote_failure_tolerance_s", |l, v, key| {
                l.int_range(v, key, 0, REMOTE_TOLERANCE_MAX)
            })?
            .unwrap_or(90);
        let window = nonneg("anomaly_repetitive_window", 0)?;
        let threshold = nonneg("anomaly_repetitive_threshold", 0)?;
        if window > 0 && threshold > window {
            return Err(self.err(
                "monitor.anomaly_repetitive_threshold",
                format!(
                    "({threshold}) must be <= monitor.anomaly_repetitive_window ({window}), or the detector can never fire"
                ),
            ));
        }
        Ok(MonitorConfig {
            auth_fail_patterns,
            auth_fail_hint: self
                .opt(t, "monitor", "auth_fail_hint", Self::string)?
                .unwrap_or_default(),
            auto_stop_on,
            remote_failure_tolerance_s,
            anomaly_repetitive_window: window,
            anomaly_repetitive_threshold: threshold,
            round_progress_interval_s: nonneg("round_progress_interval_s", 0)?,
            supervisor_stale_threshold_s: self
                .opt(
                    t,
                    "monitor",
                    "supervisor_stale_threshold_s",
                    Self::nonneg_int,
                )?
                .map(|v| {
                    self.clamped(
                        "supervisor_stale_threshold_s",
                        "monitor.supervisor_stale_threshold_s",
                        v,
                    )
                }),
            host_health: self.host_health(t)?,
        })
    }

    /// `v` held to the range of the clamped threshold `key`, with a warning
    /// naming the file and `name` (the key as written) when it was above.
    fn clamped(&self, key: &str, name: &str, v: u64) -> u64 {
        let Some(c) = clamp_of(key) else {
            return v;
        };
        let got = c.apply(v);
        if got != v {
            tracing::warn!(
                "{}: {name}: {v} is out of range {}..={}; using {got}",
                self.file.display(),
                c.min,
                c.max
            );
        }
        got
    }

    /// Collect `[monitor.host_health]` values from the 0.3 sub-tables and the
    /// 0.2 flat keys; the same setting under both names is an error.
    fn host_health_values<'a>(&self, hh: &'a Table) -> R<HhValues<'a>> {
        let prefix = "monitor.host_health";
        let flat = hh_flat();
        self.check_keys(hh, prefix, &allowed(prefix))?;
        let mut out: HhValues<'a> = BTreeMap::new();
        for sub in HH_SUBTABLES.iter().copied() {
            let sub_prefix = join(prefix, sub);
            let keys = allowed(&sub_prefix);
            if let Some(t) = self.table(hh, prefix, sub)? {
                self.check_keys(t, &sub_prefix, &keys)?;
                for key in keys {
                    if let Some(v) = t.get(key) {
                        out.insert((sub, key), (v, join(&sub_prefix, key)));
                    }
                }
            }
        }
        for (flat, sub, key) in flat {
            if let Some(v) = hh.get(flat) {
                let flat_name = join(prefix, flat);
                if let Some((_, nested)) = out.get(&(sub, key)) {
                    return Err(self.both_names(&flat_name, nested));
                }
                out.insert((sub, key), (v, flat_name));
            }
        }
        Ok(out)
    }

    fn host_health(&self, monitor_t: &Table) -> R<HostHealth> {
        let empty = Table::new();
        let hh = self
            .table(monitor_t, "monitor", "host_health")?
            .unwrap_or(&empty);
        let vals = self.host_health_values(hh)?;
        let get = |sub: &'static str, key: &'static str| vals.get(&(sub, key));
        macro_rules! field {
            ($sub:literal, $key:literal, $check:ident, $default:expr) => {
                match get($sub, $key) {
                    Some((v, name)) => self.$check(v, name)?,
                    None => $default,
                }
            };
        }
        // A field of [`CLAMPS`]: read, then held to its range.
        macro_rules! clamped {
            ($sub:literal, $key:literal, $check:ident, $default:expr) => {
                match get($sub, $key) {
                    Some((v, name)) => self.clamped(
                        concat!("host_health.", $sub, ".", $key),
                        name,
                        self.$check(v, name)?,
                    ),
                    None => $default,
                }
            };
        }
        Ok(HostHealth {
            memory: MemoryHealth {
                avail_min_mb: clamped!("memory", "avail_min_mb", nonneg_int, 200),
                free_low_mb: clamped!("memory", "free_low_mb", pos_int, 16),
                swap_out_noise_floor_mb: clamped!("memory", "swap_out_noise_floor_mb", pos_int, 32),
            },
            disk: DiskHealth {
                warning_pct: field!("disk", "warning_pct", pct, 90.0),
                critical_pct: field!("disk", "critical_pct", pct, 95.0),
                growth_window_s: clamped!("disk", "growth_window_s", pos_int, 1800),
                disk_growth_pct_per_hr_warning: field!(
                    "disk",
                    "disk_growth_pct_per_hr_warning",
                    pos_float,
                    5.0
                ),
                inode_growth_pct_per_hr_warning: field!(
                    "disk",
                    "inode_growth_pct_per_hr_warning",
                    pos_float,
                    5.0
                ),
            },
            pressure: PressureHealth {
                full_avg10_critical: field!("pressure", "full_avg10_critical", pos_pct, 60.0),
                some_avg10_warning: field!("pressure", "some_avg10_warning", pos_pct, 5.0),
                critical_consecutive_samples: field!(
                    "pressure",
                    "critical_consecutive_samples",
                    pos_int,
                    3
                ),
                in_round_terminate: field!("pressure", "in_round_terminate", boolean, true),
                cgroup_growth_rate_warning_mb_per_min: field!(
                    "pressure",
                    "cgroup_growth_rate_warning_mb_per_min",
                    pos_float,
                    512.0
                ),
                in_round_nudge: field!("pressure", "in_round_nudge", boolean, false),
            },
            brake: BrakeHealth {
                memory_high: field!("brake", "memory_high", boolean, false),
                memory_high_step_pct: match get("brake", "memory_high_step_pct") {
                    Some((v, name)) => self.int_range(v, name, 0, BRAKE_STEP_MAX)?,
                    None => 0,
                },
                warning_consecutive_samples: field!(
                    "brake",
                    "warning_consecutive_samples",
                    pos_int,
                    3
                ),
            },
        })
    }
}
