//! Host-health detectors over the metrics samples: disk level and growth,
//! and the memory signal ladder (0.3 delta §4.2).

use super::window::{Record, Window};
use super::{alert, ts_of, Alert, AutoAction, Severity};
use crate::state::pyrepr::{py_float, py_str};
use serde_json::{json, Value};

fn latest<'a>(metrics: &'a [Record], key: &str) -> Option<&'a Value> {
    metrics.iter().rev().find_map(|m| m.get(key))
}

/// `disk_warning` (#4).
pub fn disk_warning(w: &Window) -> Option<Alert> {
    let d = &w.thresholds.host_health.disk;
    let v = latest(w.metrics, "disk_used_pct")?;
    let x = v.as_f64()?;
    if x < d.warning_pct || x >= d.critical_pct {
        return None;
    }
    Some(alert(
        w,
        "disk_warning",
        Severity::Warning,
        format!("disk_used_pct {} >= {}", py_str(v), py_float(d.warning_pct)),
        json!({"value": v, "threshold": d.warning_pct, "hint": "Free space soon \u{2014} clean ~/.agent-runner/<project>/logs/"}),
        AutoAction::None,
    ))
}

/// `disk_critical` (#5) (auto-stop).
pub fn disk_critical(w: &Window) -> Option<Alert> {
    let d = &w.thresholds.host_health.disk;
    let v = latest(w.metrics, "disk_used_pct")?;
    if v.as_f64()? < d.critical_pct {
        return None;
    }
    Some(alert(
        w,
        "disk_critical",
        Severity::Critical,
        format!(
            "disk_used_pct {} >= {} \u{2014} auto-stopping service",
            py_str(v),
            py_float(d.critical_pct)
        ),
        json!({"value": v, "threshold": d.critical_pct, "hint": "Stop and clean disk before resuming"}),
        AutoAction::StopService,
    ))
}

/// `disk_growth` (#6): rate between the oldest sample within the growth window of
/// the latest sample and the latest.
pub fn disk_growth(w: &Window) -> Option<Alert> {
    let d = &w.thresholds.host_health.disk;
    let latest_ts = crate::timefmt::parse_ts(latest(w.metrics, "ts")?.as_str()?)?;
    let latest_disk = latest(w.metrics, "disk_used_pct")?.as_f64()?;
    let latest_inode = latest(w.metrics, "inode_used_pct").and_then(Value::as_f64);
    let (base, base_ts) = w.metrics.iter().find_map(|m| {
        if !m.contains_key("disk_used_pct") {
            return None;
        }
        let t = ts_of(m)?;
        let age = (latest_ts - t).num_milliseconds() as f64 / 1000.0;
        (age >= 0.0 && age <= d.growth_window_s as f64).then_some((m, t))
    })?;
    if base_ts >= latest_ts {
        return None;
    }
    let hours = (latest_ts - base_ts).num_milliseconds() as f64 / 3_600_000.0;
    if hours <= 0.0 {
        return None;
    }
    let disk_rate = (latest_disk - base.get("disk_used_pct")?.as_f64()?) / hours;
    let inode_rate = match (
        latest_inode,
        base.get("inode_used_pct").and_then(Value::as_f64),
    ) {
        (Some(a), Some(b)) => Some((a - b) / hours),
        _ => None,
    };
    let disk_trip = disk_rate >= d.disk_growth_pct_per_hr_warning;
    let inode_trip = inode_rate.is_some_and(|r| r >= d.inode_growth_pct_per_hr_warning);
    if !disk_trip && !inode_trip {
        return None;
    }
    let mut bits = Vec::new();
    if disk_trip {
        bits.push(format!(
            "disk +{disk_rate:.1}%/hr (>= {})",
            py_float(d.disk_growth_pct_per_hr_warning)
        ));
    }
    if let (true, Some(r)) = (inode_trip, inode_rate) {
        bits.push(format!(
            "inode +{r:.1}%/hr (>= {})",
            py_float(d.inode_growth_pct_per_hr_warning)
        ));
    }
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    Some(alert(
        w,
        "disk_growth",
        Severity::Warning,
        format!(
            "{} over the last {}s",
            bits.join(" and "),
            d.growth_window_s
        ),
        json!({
            "disk_pct_per_hr": r2(disk_rate),
            "disk_threshold_pct_per_hr": d.disk_growth_pct_per_hr_warning,
            "inode_pct_per_hr": inode_rate.map(r2),
            "inode_threshold_pct_per_hr": d.inode_growth_pct_per_hr_warning,
            "window_s": d.growth_window_s,
        }),
        AutoAction::None,
    ))
}

/// A verdict of the memory signal ladder (0.3 delta §4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Pressure {
    pub severity: Severity,
    /// `psi`, `swap_out_rate` or `combined_low`.
    pub signal: &'static str,
    pub message: String,
    pub context: Value,
}

fn f(m: &Record, k: &str) -> Option<f64> {
    m.get(k).and_then(Value::as_f64)
}

fn swap_delta(cur: &Record, prev: &Record) -> Option<i64> {
    cur.get("swap_sout")?
        .as_i64()?
        .checked_sub(prev.get("swap_sout")?.as_i64()?)
}

/// A threshold compared with a signed sample value (saturating, never wrapping).
fn signed(x: u64) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

/// The ladder over the latest sample and the one before it.
pub fn memory_pressure(
    cur: &Record,
    prev: &Record,
    hh: &crate::config::HostHealth,
) -> Option<Pressure> {
    if let Some(some) = f(cur, "psi_some_avg10") {
        let full = f(cur, "psi_full_avg10").unwrap_or(0.0);
        if full >= hh.pressure.full_avg10_critical {
            return Some(Pressure {
                severity: Severity::Critical,
                signal: "psi",
                message: format!(
                    "PSI memory full avg10={} (every task stalled on reclaim)",
                    py_float(full)
                ),
                context: json!({"psi_some_avg10": some, "psi_full_avg10": full}),
            });
        }
        if some >= hh.pressure.some_avg10_warning {
            return Some(Pressure {
                severity: Severity::Warning,
                signal: "psi",
                message: format!(
                    "PSI memory some avg10={} (reclaim is slowing progress)",
                    py_float(some)
                ),
                context: json!({"psi_some_avg10": some, "psi_full_avg10": full}),
            });
        }
        return None;
    }
    if let Some(delta) = swap_delta(cur, prev) {
        if delta
            > signed(
                hh.memory
                    .swap_out_noise_floor_mb
                    .saturating_mul(1024 * 1024),
            )
        {
            if let Some(free) = cur.get("mem_free_mb").and_then(Value::as_i64) {
                if free < signed(hh.memory.free_low_mb) {
                    return Some(Pressure {
                        severity: Severity::Critical,
                        signal: "swap_out_rate",
                        message: format!("swap sout +{delta}B since last sample while mem_free_mb {free} < {} (actively dying, independent of swap-device speed)", hh.memory.free_low_mb),
                        context: json!({"swap_sout_delta": delta, "mem_free_mb": free}),
                    });
                }
            }
            return Some(Pressure {
                severity: Severity::Warning,
                signal: "swap_out_rate",
                message: format!("swap sout +{delta}B since last sample (above the noise floor)"),
                context: json!({"swap_sout_delta": delta}),
            });
        }
    }
    let free = cur.get("mem_free_mb").and_then(Value::as_i64)?;
    let avail = cur.get("mem_available_mb").and_then(Value::as_i64)?;
    if free < signed(hh.memory.free_low_mb) && avail < signed(hh.memory.avail_min_mb) {
        return Some(Pressure {
            severity: Severity::Warning,
            signal: "combined_low",
            message: format!(
                "mem_free_mb {free} < {} and mem_available_mb {avail} < {}",
                hh.memory.free_low_mb, hh.memory.avail_min_mb
            ),
            context: json!({"mem_free_mb": free, "mem_available_mb": avail}),
        });
    }
    None
}

fn signal_available(cur: &Record, prev: &Record) -> bool {
    f(cur, "psi_some_avg10").is_some()
        || swap_delta(cur, prev).is_some()
        || (cur.get("mem_free_mb").is_some_and(|v| !v.is_null())
            && cur.get("mem_available_mb").is_some_and(|v| !v.is_null()))
}

fn last_two(metrics: &[Record]) -> (Option<&Record>, Option<&Record>) {
    let n = metrics.len();
    (
        metrics.last(),
        if n >= 2 { metrics.get(n - 2) } else { None },
    )
}

/// `mem_pressure` (#7+8), or `mem_signal_unavailable` when no tier is readable.
pub fn mem_pressure(w: &Window) -> Option<Alert> {
    let empty = Record::new();
    let (cur, prev) = last_two(w.metrics);
    let cur = cur?;
    let prev = prev.unwrap_or(&empty);
    const NEW_KEYS: &[&str] = &[
        "mem_free_mb",
        "swap_sout",
        "psi_some_avg10",
        "psi_full_avg10",
    ];
    if !NEW_KEYS.iter().any(|k| cur.contains_key(*k)) {
        return None; // an old-shape sample: grace until a new one lands
    }
    if let Some(p) = memory_pressure(cur, prev, &w.thresholds.host_health) {
        return Some(alert(
            w,
            "mem_pressure",
            p.severity,
            p.message,
            p.context,
            AutoAction::None,
        ));
    }
    if !signal_available(cur, prev) {
        return Some(alert(
            w,
            "mem_signal_unavailable",
            Severity::Warning,
            "no cache-poor-valid memory signal available on this host (PSI unreadable, no swap-out history, MemFree unknown) -- mem_pressure cannot detect pressure here".into(),
            json!({"mem_available_mb": cur.get("mem_available_mb").cloned().unwrap_or(Value::Null)}),
            AutoAction::None,
        ));
    }
    None
}

/// `mem_pressure_gate_inert` (#9).
pub fn mem_pressure_gate_inert(w: &Window) -> Option<Alert> {
    let empty = Record::new();
    let (cur, prev) = last_two(w.metrics);
    let cur = cur?;
    let prev = prev.unwrap_or(&empty);
    let hh = &w.thresholds.host_health;
    let avail = cur.get("mem_available_mb").and_then(Value::as_i64)?;
    if avail < signed(hh.memory.avail_min_mb) {
        return None;
    }
    let p = memory_pressure(cur, prev, hh)?;
    if p.signal != "psi" && p.signal != "swap_out_rate" {
        return None;
    }
    Some(alert(
        w,
        "mem_pressure_gate_inert",
        Severity::Warning,
        format!("[monitor.host_health.memory] avail_min_mb={} cannot fire on this host: a cache-poor-valid signal shows real pressure while mem_available_mb={avail} stays >= threshold", hh.memory.avail_min_mb),
        json!({
            "avail_min_mb": hh.memory.avail_min_mb,
            "mem_available_mb": avail,
            "hint": "MemAvailable is inflated on this host -- lowering [monitor.host_health.memory] avail_min_mb won't help; rely on the mem_pressure alert itself instead",
        }),
        AutoAction::None,
    ))
}
