//! Whether serve is holding rounds back for memory right now (0.3 delta
//! §4.3), read from the events alone, so the local views (`peek`, the HTTP
//! page) and the fleet witness say the same thing for the same log: the
//! newest `round_deferred` that no round, resume or stop has followed.

use super::window::Record;
use super::{kind, ts_of};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Kinds after which a `round_deferred` is over.
const ENDS: &[&str] = &[
    "round_resumed",
    "round_substrate_before",
    "round_start",
    "serve_stopping",
    "stop_file_detected",
    "agent_self_terminated",
    "max_rounds_reached",
    "config_broken",
];

/// A deferral in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Deferral {
    pub since: DateTime<Utc>,
    pub severity: String,
    pub signal: String,
}

/// The deferral in force at the end of `events` (oldest first), if any.
pub fn memory_deferral<'a, I>(events: I) -> Option<Deferral>
where
    I: IntoIterator<Item = &'a Record>,
    I::IntoIter: DoubleEndedIterator,
{
    let e = events
        .into_iter()
        .rev()
        .find(|e| kind(e) == "round_deferred" || ENDS.contains(&kind(e)))?;
    if kind(e) != "round_deferred" {
        return None;
    }
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Some(Deferral {
        since: ts_of(e)?,
        severity: s("severity"),
        signal: s("signal"),
    })
}

/// `45s`, `4m`, `2h 5m`.
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

impl Deferral {
    /// Seconds deferred at `now` (never negative).
    pub fn for_s(&self, now: DateTime<Utc>) -> i64 {
        (now - self.since).num_seconds().max(0)
    }

    /// `deferred: memory critical for 4m`.
    pub fn label(&self, now: DateTime<Utc>) -> String {
        let sev = if self.severity.is_empty() {
            "pressure"
        } else {
            &self.severity
        };
        format!("deferred: memory {sev} for {}", human_age(self.for_s(now)))
    }

    /// The `memory_deferral` block of the project state.
    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        json!({
            "since": crate::timefmt::iso_ms(self.since),
            "deferred_for_s": self.for_s(now),
            "severity": self.severity,
            "signal": self.signal,
            "label": self.label(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: &str, k: &str) -> Record {
        json!({"ts": ts, "event": k, "severity": "critical", "signal": "psi"})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn the_newest_deferral_counts_until_a_round_resume_or_stop() {
        let t = |s: &str| crate::timefmt::parse_ts(s).unwrap_or_default();
        let d = ev("2026-11-01T10:00:00.000Z", "round_deferred");
        let mut evs = vec![ev("2026-11-01T09:00:00.000Z", "round_end"), d.clone()];
        let got = memory_deferral(&evs).unwrap_or_else(|| panic!("deferred"));
        assert_eq!(
            got.label(t("2026-11-01T10:04:30.000Z")),
            "deferred: memory critical for 4m"
        );
        assert_eq!(
            got.label(t("2026-11-01T10:00:09.000Z")),
            "deferred: memory critical for 9s"
        );
        assert_eq!(
            got.label(t("2026-11-01T12:05:00.000Z")),
            "deferred: memory critical for 2h 5m"
        );
        // unrelated events (the monitor's, metrics-free kinds) do not end it
        evs.push(ev("2026-11-01T10:01:00.000Z", "monitor_alert_emitted"));
        assert!(memory_deferral(&evs).is_some());
        for end in ["round_resumed", "serve_stopping", "round_start"] {
            let mut e2 = evs.clone();
            e2.push(ev("2026-11-01T10:02:00.000Z", end));
            assert_eq!(memory_deferral(&e2), None, "{end}");
        }
        assert_eq!(memory_deferral(&[]), None);
    }
}
