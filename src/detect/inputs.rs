//! Inputs a detector cannot read (0.3 delta §5.2: "a detector that raises
//! emits `detector_error {detector, error}` and the rest still run").
//!
//! Our detectors cannot raise; what makes upstream's raise is a record whose
//! number is not a number (a `disk_used_pct` of `"99"`, an `exit_code` of
//! `"1"`), and a detector that skipped such a value would report "healthy"
//! about something it never read. So before a detector runs, the fields it
//! reads are checked: a value that is present, not null and not a number
//! makes the detector fail with a reason instead of giving a verdict.

use super::window::{Record, Window};
use super::{kind, last_exits};
use serde_json::Value;

/// `field 'disk_used_pct' of the latest metrics sample is not a number: "99"`.
fn not_a_number<'a>(
    records: impl Iterator<Item = &'a Record>,
    fields: &[&str],
    what: &str,
) -> Option<String> {
    for r in records {
        for f in fields {
            match r.get(*f) {
                None | Some(Value::Null) | Some(Value::Number(_)) => {}
                Some(v) => {
                    let shown: String = v.to_string().chars().take(40).collect();
                    return Some(format!("field '{f}' of {what} is not a number: {shown}"));
                }
            }
        }
    }
    None
}

/// The newest metrics record that has `key`.
fn latest_with<'a>(w: &'a Window, key: &str) -> Option<&'a Record> {
    w.metrics.iter().rev().find(|m| m.contains_key(key))
}

const MEMORY_FIELDS: &[&str] = &[
    "mem_available_mb",
    "mem_free_mb",
    "swap_sout",
    "psi_some_avg10",
    "psi_full_avg10",
];

/// Why `detector` cannot read its input in `w`, if it cannot.
pub fn input_error(detector: &str, w: &Window) -> Option<String> {
    match detector {
        "disk_warning" | "disk_critical" => not_a_number(
            latest_with(w, "disk_used_pct").into_iter(),
            &["disk_used_pct"],
            "the latest metrics sample",
        ),
        // It compares two samples; with fewer it reads nothing.
        "disk_growth"
            if w.metrics
                .iter()
                .filter(|m| m.contains_key("disk_used_pct"))
                .count()
                >= 2 =>
        {
            not_a_number(
                w.metrics.iter(),
                &["disk_used_pct", "inode_used_pct"],
                "a metrics sample",
            )
        }
        "mem_pressure" | "mem_pressure_gate_inert" => not_a_number(
            w.metrics.iter().rev().take(2),
            MEMORY_FIELDS,
            "one of the last two metrics samples",
        ),
        "rate_limit_active" => not_a_number(
            w.events
                .iter()
                .rev()
                .find(|e| kind(e) == "transient_error_detected")
                .into_iter(),
            &["reset_at_epoch"],
            "the newest transient_error_detected",
        ),
        "timeout_rate" | "oauth_fail" | "network_fail" => not_a_number(
            last_exits(w.events, 10).into_iter(),
            &["exit_code", "duration_s"],
            "an agent_exit among the last 10",
        ),
        _ => None,
    }
}
