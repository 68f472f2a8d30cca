//! [`HostView`] against hostile hellos and snapshots: thresholds clamped
//! (said once, naming the key), refused (too many or too large auth
//! patterns, wrong types, none), a snapshot without a usable `now` refused,
//! and the issue-14 abort (a huge growth window next to a metric line).

use super::super::frame::Frame;
use super::view::{Applied, HostView};
use crate::detect::window::Thresholds;
use serde_json::{json, Map, Value};

fn ev(cursor: &str, ts: &str, kind: &str, n: u64) -> Frame {
    Frame::Event {
        cursor: cursor.into(),
        line: format!("{{\"ts\": \"{ts}\", \"event\": \"{kind}\", \"round_num\": {n}}}"),
    }
}

fn default_thresholds() -> Value {
    let th = Thresholds::from_config(
        &crate::config::default_config(std::path::Path::new("/w"), std::path::Path::new("/l"))
            .unwrap(),
    );
    serde_json::to_value(&th).unwrap()
}

fn hello_with(th: Value) -> Frame {
    let mut hello = Map::new();
    hello.insert("thresholds".into(), th);
    Frame::Hello(hello)
}

fn snapshot(now: &str) -> Frame {
    let mut snap = Map::new();
    snap.insert("now".into(), json!(now));
    Frame::Snapshot(snap)
}

/// The SIGABRT of issue 14: a huge growth window next to one metric line.
#[test]
fn a_hello_with_huge_windows_next_to_a_metric_is_clamped_and_still_detects() {
    let mut v = HostView::default();
    let mut th = default_thresholds();
    th["host_health"]["disk"]["growth_window_s"] = json!(100_000_000_000_000_000u64);
    th["supervisor_stale_threshold_s"] = json!(u64::MAX);
    th["host_health"]["memory"]["swap_out_noise_floor_mb"] = json!(u64::MAX);
    let a = v.apply(hello_with(th));
    assert!(matches!(&a, Applied::Hello(c) if c.len() == 3), "{a:?}");
    v.apply(Frame::Metric {
        line: r#"{"ts": "2026-11-01T00:00:00.000Z", "disk_used_pct": 92.0, "swap_sout": 1}"#.into(),
    });
    v.apply(Frame::Metric {
        line: r#"{"ts": "2026-11-01T00:00:05.000Z", "disk_used_pct": 92.0, "swap_sout": 9223372036854775807}"#
            .into(),
    });
    v.apply(ev(
        "events-2026-11.jsonl:10",
        "2026-11-01T00:00:00.000Z",
        "schedule_paused",
        1,
    ));
    v.apply(snapshot("2026-11-20T00:00:00.000Z"));
    let alerts = v.detect().unwrap();
    assert!(
        alerts.iter().any(|a| a.detector == "disk_warning"),
        "{alerts:?}"
    );
    let th = v.thresholds.as_ref().unwrap();
    assert_eq!(th.host_health.disk.growth_window_s, 7 * 86_400);
    assert_eq!(th.supervisor_stale_threshold_s, 30 * 86_400);
}

#[test]
fn remote_auth_patterns_are_bounded_in_number_and_size() {
    let mut th = default_thresholds();
    th["auth_fail_patterns"] = json!(vec!["denied"; 33]);
    let mut v = HostView::default();
    let a = v.apply(hello_with(th));
    assert!(
        matches!(&a, Applied::Refused(m) if m.contains("33 patterns; at most 32")),
        "{a:?}"
    );
    assert!(v.thresholds.is_none() && v.hello.is_none());
    // One pattern whose compiled form is far over 64 KiB (and under the
    // regex crate's own 10 MiB default).
    let mut th = default_thresholds();
    th["auth_fail_patterns"] = json!([r"ok", r"\w{200}"]);
    let mut v = HostView::default();
    let a = v.apply(hello_with(th));
    assert!(
        matches!(&a, Applied::Refused(m) if m.contains("auth_fail_patterns[1]") && m.contains("size limit")),
        "{a:?}"
    );
    assert!(v.thresholds.is_none());
    // 32 small ones are fine.
    let mut th = default_thresholds();
    th["auth_fail_patterns"] = json!(vec!["denied"; 32]);
    let mut v = HostView::default();
    assert_eq!(v.apply(hello_with(th)), Applied::Hello(vec![]));
    assert!(v.thresholds.is_some());
}

#[test]
fn clamps_are_said_once_per_view_and_bad_hellos_and_snapshots_are_refused() {
    let mut th = default_thresholds();
    th["host_health"]["disk"]["growth_window_s"] = json!(u64::MAX);
    let mut v = HostView::default();
    let Applied::Hello(clamped) = v.apply(hello_with(th.clone())) else {
        panic!("not taken");
    };
    assert_eq!(clamped.len(), 1, "{clamped:?}");
    assert!(clamped[0].contains("thresholds.host_health.disk.growth_window_s"));
    // The same hello after a reconnect: nothing new to say; another
    // host with it says it too.
    assert_eq!(v.apply(hello_with(th.clone())), Applied::Hello(vec![]));
    let mut other = HostView::default();
    assert!(matches!(other.apply(hello_with(th)), Applied::Hello(c) if c.len() == 1));
    // Wrong types, no thresholds.
    let mut th = default_thresholds();
    th["round_budget_s"] = json!("soon");
    assert!(matches!(v.apply(hello_with(th)), Applied::Refused(m) if m.contains("not usable")));
    assert!(matches!(
        v.apply(Frame::Hello(Map::new())),
        Applied::Refused(m) if m.contains("no thresholds")
    ));
    for now in [
        json!("+262143-12-31T23:59:59"),
        json!(12),
        json!("x".repeat(100)),
    ] {
        let mut snap = Map::new();
        snap.insert("now".into(), now);
        let a = v.apply(Frame::Snapshot(snap));
        assert!(
            matches!(&a, Applied::Refused(m) if m.contains("'now'") && m.len() < 120),
            "{a:?}"
        );
    }
}
