//! The retention policy: what a host's rolling buffers keep. Events are
//! compacted to what the detectors look back over ([`compact`]), metric
//! samples pruned to the disk-growth window ([`prune_metrics`]), and a slim
//! view keeps only the [`DETECTOR_FIELDS`] of each event. Pure functions over
//! the buffers; no I/O.

use crate::detect as detectors;
use crate::detect::window::Record;
use crate::snapshot::RECENT_METRICS;
use serde_json::Value;
use std::collections::VecDeque;

/// A host's event buffer is compacted when it grows past this many events
/// (so a host costs the witness about a hundred parsed events, whatever the
/// length of its history: `bench/fleet.py` watches 200 hosts with 500 rounds
/// of history each).
pub const COMPACT_AT: usize = 80;
/// Events of any kind kept at compaction (the newest ones).
pub const KEEP_ANY: usize = 16;
/// Rounds of detector-kind events kept at compaction. The detectors that
/// look back furthest read the last 10 agent exits (`timeout_rate`,
/// `oauth_fail`, `network_fail`); `anomaly_repetitive_active` reads 5 rounds;
/// `orphan_chain` fires at a streak of 3.
pub const KEEP_ROUNDS: i64 = 12;
/// Round-scoped kinds the detectors look back over; compaction keeps these
/// and the [`STATE_KINDS`] of the last [`KEEP_ROUNDS`] rounds
/// ([`is_detector_kind`]) and drops older events and other kinds (progress
/// heartbeats, usage, hooks…).
pub(super) const ROUND_KINDS: &[&str] = &[
    "round_start",
    "round_end",
    "agent_exit",
    "agent_auth_error_detected",
    "agent_needs_input",
    "anomaly_repetitive_tool",
    "orphan_stashed",
];
/// The event fields the detectors and the fleet row read; a slim
/// [`super::HostView`] drops the others (config digests, token counts, raw text…).
pub const DETECTOR_FIELDS: &[&str] = &[
    "ts",
    "event",
    "round_num",
    "phase",
    "exit_code",
    "duration_s",
    "timed_out",
    "exit_cause",
    "classification",
    "agent",
    "reset_at_epoch",
    "tool_name",
    "target",
    "count",
    "window",
    "resume_at",
    "reason",
    "need",
    "waiting_for",
    "remedy",
    "severity",
    "signal",
];
/// The metric-sample fields the detectors read; the witness keeps only
/// these of a relayed sample ([`slim_metric`]).
pub const METRIC_FIELDS: &[&str] = &[
    "ts",
    "disk_used_pct",
    "inode_used_pct",
    "mem_free_mb",
    "mem_available_mb",
    "swap_sout",
    "psi_some_avg10",
    "psi_full_avg10",
];
/// The longest string kept in a slim metric sample (a `ts` takes 24 bytes).
const METRIC_STRING_MAX: usize = 64;

/// A metric sample as the witness keeps it: its [`METRIC_FIELDS`], each a
/// number, boolean, null or short string (a longer string, an array or an
/// object becomes null: no detector reads one as a number or a time). So the
/// [`RECENT_METRICS`] samples of a host stay small whatever it sends.
pub fn slim_metric(m: Record) -> Record {
    let mut out = Record::with_capacity(METRIC_FIELDS.len());
    for (k, v) in m {
        if !METRIC_FIELDS.contains(&k.as_str()) {
            continue;
        }
        let v = match v {
            Value::String(s) if s.len() > METRIC_STRING_MAX => Value::Null,
            Value::Array(_) | Value::Object(_) => Value::Null,
            v => v,
        };
        out.insert(k, v);
    }
    out
}

/// Kinds whose newest event counts however old it is: a throttle, a pause or
/// a deferral still in force (`rate_limit_active`, `supervisor_stale`).
pub(super) const STATE_KINDS: &[&str] = &[
    "transient_error_detected",
    "transient_error_recovered",
    "schedule_paused",
    "schedule_resumed",
    "round_deferred",
    "round_resumed",
    "serve_stopping",
];

/// A kind some detector reads: [`ROUND_KINDS`] or [`STATE_KINDS`].
pub fn is_detector_kind(k: &str) -> bool {
    ROUND_KINDS.contains(&k) || STATE_KINDS.contains(&k)
}

/// Bound a host's event buffer: keep the newest [`KEEP_ANY`] events, the
/// detector-kind events of the last [`KEEP_ROUNDS`] rounds (and those without
/// a round number among the newest), and the newest event of each
/// [`STATE_KINDS`] kind; order is kept. Never more than [`COMPACT_AT`].
pub fn compact(events: &mut VecDeque<Record>) {
    use detectors::kind as kind_of;
    let round_of = |e: &Record| detectors::field(e, "round_num").and_then(Value::as_i64);
    let max_round = events.iter().filter_map(round_of).max().unwrap_or(0);
    let floor = max_round.saturating_sub(KEEP_ROUNDS - 1);
    let n = events.len();
    // the newest event of each state kind, by index
    let mut newest_state: Vec<usize> = Vec::with_capacity(STATE_KINDS.len());
    for k in STATE_KINDS {
        if let Some(i) = events.iter().rposition(|e| kind_of(e) == *k) {
            newest_state.push(i);
        }
    }
    let mut i = 0usize;
    events.retain(|e| {
        let idx = i;
        i += 1;
        idx >= n.saturating_sub(KEEP_ANY)
            || newest_state.contains(&idx)
            || (is_detector_kind(kind_of(e)) && round_of(e).map_or(true, |r| r >= floor))
    });
    // Still too many (a flood without round numbers): the newest win, but the
    // state events stay.
    while events.len() > COMPACT_AT {
        let drop = events
            .iter()
            .position(|e| !STATE_KINDS.contains(&kind_of(e)))
            .unwrap_or(0);
        events.remove(drop);
    }
}

/// Drop metric samples older than the growth window (what `disk_growth`
/// reads) before the newest one, keeping at least two (the memory ladder's).
pub fn prune_metrics(metrics: &mut VecDeque<Record>, window_s: u64) {
    let ts = |m: &Record| {
        m.get("ts")
            .and_then(Value::as_str)
            .and_then(crate::timefmt::parse_ts)
    };
    let Some(latest) = metrics.back().and_then(ts) else {
        return;
    };
    // A floor before the start of time keeps every sample (the count cap
    // below still holds).
    let floor = i64::try_from(window_s)
        .ok()
        .and_then(|w| w.checked_add(60))
        .and_then(|w| crate::timefmt::add_s(latest, -w));
    if let Some(floor) = floor {
        while metrics.len() > 2 && metrics.front().and_then(ts).is_some_and(|t| t < floor) {
            metrics.pop_front();
        }
    }
    while metrics.len() > RECENT_METRICS {
        metrics.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::window::{Thresholds, Window};
    use crate::detect::Alert;
    use serde_json::{json, Map};
    use std::collections::BTreeMap;

    const T0: &str = "2026-11-01T00:00:00.000Z";

    /// `v` as an event stamped `s` seconds after [`T0`].
    fn event_at(s: i64, v: Value) -> Record {
        let t0 = crate::timefmt::parse_ts(T0).unwrap();
        let mut m = v.as_object().unwrap().clone();
        m.insert(
            "ts".into(),
            json!(crate::timefmt::iso_ms(t0 + chrono::Duration::seconds(s))),
        );
        m
    }

    /// Feed `all` through a buffer compacted as the witness does; the buffer
    /// and the most events it ever held.
    fn compacted(all: &[Record]) -> (VecDeque<Record>, usize) {
        let mut dq: VecDeque<Record> = VecDeque::new();
        let mut most = 0;
        for e in all {
            dq.push_back(e.clone());
            if dq.len() > COMPACT_AT {
                compact(&mut dq);
            }
            most = most.max(dq.len());
        }
        (dq, most)
    }

    /// Every detector over `events`, `s` seconds after [`T0`], default thresholds.
    fn alerts_at(events: &[Record], s: i64) -> Vec<Alert> {
        let cfg =
            crate::config::default_config(std::path::Path::new("/w"), std::path::Path::new("/l"))
                .unwrap();
        let th = Thresholds::from_config(&cfg);
        let t0 = crate::timefmt::parse_ts(T0).unwrap();
        crate::detect::run_all(&Window {
            events,
            metrics: &[],
            log_tails: &BTreeMap::new(),
            status: None,
            now: t0 + chrono::Duration::seconds(s),
            thresholds: &th,
        })
    }

    #[test]
    fn compaction_keeps_what_the_detectors_see() {
        let mut all: Vec<Record> = Vec::new();
        let mut s = 0;
        for n in 1..=14u64 {
            all.push(event_at(s, json!({"event": "round_start", "round_num": n})));
            for _ in 0..150 {
                s += 1;
                all.push(event_at(
                    s,
                    json!({"event": "round_progress", "round_num": n}),
                ));
            }
            if n % 3 == 0 {
                all.push(event_at(
                    s,
                    json!({"event": "orphan_stashed", "round_num": n}),
                ));
            }
            all.push(event_at(
                s,
                json!({"event": "agent_exit", "round_num": n, "exit_code": 1, "timed_out": n > 10, "duration_s": 5.0, "exit_cause": "timeout"}),
            ));
            if n < 14 {
                all.push(event_at(s, json!({"event": "round_end", "round_num": n})));
            }
        }
        let (mut dq, _) = compacted(&all);
        assert!(dq.len() <= COMPACT_AT, "{}", dq.len());
        let recent = &all[all.len().saturating_sub(crate::snapshot::RECENT_EVENTS)..];
        let full = alerts_at(recent, s + 100_000);
        assert!(!full.is_empty());
        assert_eq!(full, alerts_at(dq.make_contiguous(), s + 100_000));
    }

    #[test]
    fn compaction_bounds_a_long_history_and_keeps_an_old_throttle() {
        let mut all: Vec<Record> = Vec::new();
        let mut s = 0i64;
        let mut push = |v: Value| {
            s += 1;
            all.push(event_at(s, v));
        };
        let t0 = crate::timefmt::parse_ts(T0).unwrap();
        let reset = (t0 + chrono::Duration::days(30)).timestamp();
        for n in 1..=500i64 {
            push(json!({"event": "round_start", "round_num": n}));
            if n == 20 {
                // a throttle that is still in force at the end
                push(
                    json!({"event": "transient_error_detected", "round_num": n, "classification": "rate_limit", "agent": "claude", "reset_at_epoch": reset}),
                );
            }
            push(json!({"event": "agent_usage_recorded", "round_num": n}));
            if n > 490 {
                push(json!({"event": "orphan_stashed", "round_num": n}));
            }
            push(
                json!({"event": "agent_exit", "round_num": n, "exit_code": 1, "timed_out": n % 2 == 0, "duration_s": 5.0, "exit_cause": "timeout"}),
            );
            push(json!({"event": "round_end", "round_num": n}));
        }
        let (mut dq, most) = compacted(&all);
        assert!(most <= COMPACT_AT + 1, "{most}");
        let full = alerts_at(&all, s + 60);
        let names: Vec<&str> = full.iter().map(|a| a.detector).collect();
        for d in ["timeout_rate", "rate_limit_active", "orphan_chain"] {
            assert!(names.contains(&d), "{names:?}");
        }
        assert_eq!(full, alerts_at(dq.make_contiguous(), s + 60));
    }

    #[test]
    fn metrics_are_pruned_to_the_growth_window() {
        let mut m: VecDeque<Record> = VecDeque::new();
        let t0 = crate::timefmt::parse_ts("2026-11-01T00:00:00.000Z").unwrap();
        for i in 0..1000 {
            let mut r = Map::new();
            r.insert(
                "ts".into(),
                json!(crate::timefmt::iso_ms(
                    t0 + chrono::Duration::seconds(i * 30)
                )),
            );
            m.push_back(r);
            prune_metrics(&mut m, 1800);
        }
        // 1800 s + 60 s margin at one sample per 30 s.
        assert_eq!(m.len(), 63);
    }

    #[test]
    fn extreme_round_numbers_and_windows_neither_panic_nor_unbound_the_buffers() {
        for rn in [i64::MIN, i64::MAX] {
            let mut dq: VecDeque<Record> = (0..=COMPACT_AT)
                .map(|_| event_at(0, json!({"event": "round_start", "round_num": rn})))
                .collect();
            compact(&mut dq);
            assert!(dq.len() <= COMPACT_AT);
        }
        let mut m: VecDeque<Record> = VecDeque::new();
        for ts in ["9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z"] {
            for _ in 0..(RECENT_METRICS + 10) {
                let mut r = Map::new();
                r.insert("ts".into(), json!(ts));
                m.push_back(r);
                prune_metrics(&mut m, u64::MAX);
                prune_metrics(&mut m, i64::MAX as u64);
                prune_metrics(&mut m, 604_800);
            }
            assert!(m.len() <= RECENT_METRICS);
        }
    }

    #[test]
    fn a_slim_metric_keeps_only_small_values_of_the_fields_detectors_read() {
        let big = "x".repeat(100_000);
        let m = slim_metric(
            json!({"ts": "2026-11-01T00:00:00.000Z", "disk_used_pct": 50.5, "junk": big,
                "swap_sout": big, "mem_free_mb": [1, 2], "psi_some_avg10": {"a": 1}, "mem_available_mb": 7})
            .as_object()
            .unwrap()
            .clone(),
        );
        assert_eq!(
            Value::Object(m),
            json!({"ts": "2026-11-01T00:00:00.000Z", "disk_used_pct": 50.5, "swap_sout": null,
                "mem_free_mb": null, "psi_some_avg10": null, "mem_available_mb": 7})
        );
    }
}
