//! Detector edge tests: each detector fires at its threshold and not just
//! below it; per-episode dedup across polls.

use super::window::{Record, Thresholds, Window};
use super::{self as d, Alert, Severity};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}
fn iso(t: DateTime<Utc>) -> String {
    crate::timefmt::iso_ms(t)
}
fn rec(v: Value) -> Record {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}
fn ev(secs: i64, kind: &str, extra: Value) -> Record {
    let mut m = rec(json!({"ts": iso(t0() + Duration::seconds(secs)), "event": kind}));
    if let Value::Object(x) = extra {
        m.extend(x);
    }
    m
}
fn thresholds() -> Thresholds {
    let dir = std::path::Path::new("/nonexistent/proj");
    Thresholds::from_config(&crate::config::default_config(dir, &dir.join("logs")).unwrap())
}

struct W {
    events: Vec<Record>,
    metrics: Vec<Record>,
    tails: BTreeMap<u64, String>,
    now: DateTime<Utc>,
    th: Thresholds,
}
impl W {
    fn new() -> W {
        W {
            events: vec![],
            metrics: vec![],
            tails: BTreeMap::new(),
            now: t0() + Duration::seconds(100),
            th: thresholds(),
        }
    }
    fn w(&self) -> Window<'_> {
        Window {
            events: &self.events,
            metrics: &self.metrics,
            log_tails: &self.tails,
            status: None,
            now: self.now,
            thresholds: &self.th,
        }
    }
    fn run(&self, f: fn(&Window) -> Option<Alert>) -> Option<Alert> {
        f(&self.w())
    }
    fn exits(&mut self, n: usize, f: impl Fn(usize) -> Value) {
        for i in 0..n {
            self.events.push(ev(i as i64, "agent_exit", f(i)));
        }
    }
}

#[test]
fn timeout_rate_fires_at_two_in_ten_not_one_and_needs_ten_and_skips_grace_kills() {
    let mk = |timed: usize, total: usize, cause: &str| {
        let mut w = W::new();
        let cause = cause.to_string();
        w.exits(total, |i| json!({"round_num": i, "exit_code": 0, "duration_s": 1.0, "timed_out": i < timed, "exit_cause": if i < timed { cause.clone() } else { "clean".into() }}));
        w
    };
    let a = mk(2, 10, "timeout")
        .run(d::timeout_rate)
        .expect("2/10 fires");
    assert_eq!(a.message, "2/10 recent rounds timed out (>20%)");
    assert_eq!(a.context["rate"], json!(0.2));
    assert_eq!(a.context["window"], json!(10));
    assert!(mk(1, 10, "timeout").run(d::timeout_rate).is_none());
    assert!(mk(5, 9, "timeout").run(d::timeout_rate).is_none());
    assert!(mk(5, 10, "grace_kill").run(d::timeout_rate).is_none());
}

#[test]
fn hung_fires_only_past_one_and_a_half_budget_of_the_latest_round_with_phase_budget() {
    let mut w = W::new();
    w.th.round_budget_s = 100;
    w.events
        .push(ev(0, "round_start", json!({"round_num": 7, "phase": null})));
    w.now = t0() + Duration::seconds(150);
    assert!(w.run(d::hung).is_none(), "exactly 1.5x does not fire");
    w.now = t0() + Duration::milliseconds(150_001);
    let a = w.run(d::hung).expect("past 1.5x fires");
    assert_eq!(a.message, "Round 7 started 150s ago with no round_end");
    assert_eq!(a.context["round_num"], json!(7));
    assert_eq!(a.context["threshold_s"], json!(150.0));
    // A phase with its own budget.
    w.th.phase_budgets.insert("build".into(), 1000);
    w.events[0].insert("phase".into(), json!("build"));
    assert!(w.run(d::hung).is_none());
    // Closed → no alert; an older open round is superseded by a closed later one.
    w.events[0].insert("phase".into(), Value::Null);
    w.events.push(ev(1, "round_end", json!({"round_num": 7})));
    assert!(w.run(d::hung).is_none());
    w.events
        .insert(0, ev(-10, "round_start", json!({"round_num": 6})));
    assert!(w.run(d::hung).is_none());
}

#[test]
fn orphan_chain_fires_at_three_consecutive_and_resets_on_clean_round_end() {
    let mut w = W::new();
    for r in 1..=2 {
        w.events
            .push(ev(r, "orphan_stashed", json!({"round_num": r})));
        w.events.push(ev(r, "round_end", json!({"round_num": r})));
    }
    assert!(w.run(d::orphan_chain).is_none());
    w.events
        .push(ev(3, "orphan_stashed", json!({"round_num": 3})));
    let a = w.run(d::orphan_chain).expect("3 fires");
    assert_eq!(a.message, "3 consecutive rounds with orphan_stashed (>= 3)");
    assert_eq!(a.context["last_round"], json!(3));
    w.events.push(ev(4, "round_end", json!({"round_num": 4})));
    assert!(w.run(d::orphan_chain).is_none());
}

fn disk(pct: Value) -> W {
    let mut w = W::new();
    w.metrics.push(rec(
        json!({"ts": iso(t0()), "event": "round_end", "disk_used_pct": pct}),
    ));
    w
}

#[test]
fn disk_warning_between_warning_and_critical() {
    assert!(disk(json!(89.9)).run(d::disk_warning).is_none());
    let a = disk(json!(90.0)).run(d::disk_warning).expect("90 fires");
    assert_eq!(a.message, "disk_used_pct 90.0 >= 90.0");
    assert!(disk(json!(94.9)).run(d::disk_warning).is_some());
    assert!(disk(json!(95.0)).run(d::disk_warning).is_none());
}

#[test]
fn disk_critical_at_critical_with_stop_action() {
    assert!(disk(json!(94.9)).run(d::disk_critical).is_none());
    let a = disk(json!(96.0)).run(d::disk_critical).expect("fires");
    assert_eq!(
        a.message,
        "disk_used_pct 96.0 >= 95.0 \u{2014} auto-stopping service"
    );
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.auto_action, d::AutoAction::StopService);
    assert_eq!(
        a.context["hint"],
        json!("Stop and clean disk before resuming")
    );
    assert!(
        a.to_json_line().contains("\\u2014 auto-stopping"),
        "json line is ASCII-escaped"
    );
}

#[test]
fn disk_growth_fires_at_five_pct_per_hour_within_window() {
    let mk = |delta: f64, secs: i64| {
        let mut w = W::new();
        w.metrics.push(rec(json!({"ts": iso(t0()), "event": "round_start", "disk_used_pct": 50.0, "inode_used_pct": 10.0})));
        w.metrics.push(rec(json!({"ts": iso(t0() + Duration::seconds(secs)), "event": "round_end", "disk_used_pct": 50.0 + delta, "inode_used_pct": 10.0})));
        w
    };
    // 1800 s window: +2.5 % in 30 min = 5 %/h → fires; +2.4 → not.
    let a = mk(2.5, 1800).run(d::disk_growth).expect("5%/h fires");
    assert_eq!(a.message, "disk +5.0%/hr (>= 5.0) over the last 1800s");
    assert_eq!(a.context["disk_pct_per_hr"], json!(5.0));
    assert!(mk(2.4, 1800).run(d::disk_growth).is_none());
    // Baseline outside the window → only one sample → nothing.
    assert!(mk(50.0, 1801).run(d::disk_growth).is_none());
}

fn mem(samples: &[Value]) -> W {
    let mut w = W::new();
    for s in samples {
        w.metrics.push(rec(s.clone()));
    }
    w
}

#[test]
fn mem_pressure_ladder_psi_swap_combined_and_unavailable() {
    // PSI some at the warning edge.
    let a = mem(&[json!({"psi_some_avg10": 5.0, "psi_full_avg10": 0.0, "mem_available_mb": 1000})])
        .run(d::mem_pressure)
        .expect("psi warning");
    assert_eq!(a.severity, Severity::Warning);
    assert!(
        mem(&[json!({"psi_some_avg10": 4.99, "psi_full_avg10": 0.0})])
            .run(d::mem_pressure)
            .is_none()
    );
    let a = mem(&[json!({"psi_some_avg10": 70.0, "psi_full_avg10": 60.0})])
        .run(d::mem_pressure)
        .expect("psi critical");
    assert_eq!(a.severity, Severity::Critical);
    // Swap-out above the 32 MiB floor, with MemFree below 16 → critical.
    let floor = 32 * 1024 * 1024;
    let a = mem(&[
        json!({"swap_sout": 0, "psi_some_avg10": null, "mem_free_mb": 10, "mem_available_mb": 900}),
        json!({"swap_sout": floor + 1, "psi_some_avg10": null, "mem_free_mb": 10, "mem_available_mb": 900}),
    ])
    .run(d::mem_pressure)
    .expect("swap critical");
    assert_eq!(a.severity, Severity::Critical);
    assert!(mem(&[
        json!({"swap_sout": 0, "mem_free_mb": 100, "mem_available_mb": 900}),
        json!({"swap_sout": floor, "mem_free_mb": 100, "mem_available_mb": 900}),
    ])
    .run(d::mem_pressure)
    .is_none());
    // Combined low: both below.
    let a = mem(&[json!({"mem_free_mb": 15, "mem_available_mb": 199})])
        .run(d::mem_pressure)
        .expect("combined");
    assert_eq!(
        a.message,
        "mem_free_mb 15 < 16 and mem_available_mb 199 < 200"
    );
    assert!(mem(&[json!({"mem_free_mb": 15, "mem_available_mb": 200})])
        .run(d::mem_pressure)
        .is_none());
    // Old-shape sample → grace; new-shape with nothing readable → unavailable.
    assert!(mem(&[json!({"mem_available_mb": 10})])
        .run(d::mem_pressure)
        .is_none());
    let a = mem(&[json!({"mem_free_mb": null, "swap_sout": null, "mem_available_mb": 500})])
        .run(d::mem_pressure)
        .expect("unavailable");
    assert_eq!(a.detector, "mem_signal_unavailable");
}

#[test]
fn mem_pressure_gate_inert_when_psi_pressure_and_available_at_threshold() {
    let a = mem(&[json!({"psi_some_avg10": 10.0, "psi_full_avg10": 0.0, "mem_available_mb": 200})])
        .run(d::mem_pressure_gate_inert)
        .expect("inert");
    assert_eq!(a.context["avail_min_mb"], json!(200));
    assert!(mem(&[
        json!({"psi_some_avg10": 10.0, "psi_full_avg10": 0.0, "mem_available_mb": 199})
    ])
    .run(d::mem_pressure_gate_inert)
    .is_none());
    assert!(mem(&[
        json!({"psi_some_avg10": 1.0, "psi_full_avg10": 0.0, "mem_available_mb": 5000})
    ])
    .run(d::mem_pressure_gate_inert)
    .is_none());
}

fn failing(n_match: usize, tail: &str, dur: f64) -> W {
    let mut w = W::new();
    w.exits(10, |i| json!({"round_num": i, "exit_code": 1, "duration_s": dur, "timed_out": false, "exit_cause": "error"}));
    for i in 0..10u64 {
        let t = if (i as usize) < n_match {
            tail
        } else {
            "all good"
        };
        w.tails.insert(i, t.to_string());
    }
    w
}

#[test]
fn oauth_fail_two_in_ten_short_exits_or_structured_events() {
    let a = failing(2, "HTTP 401 Unauthorized\n", 1.0)
        .run(d::oauth_fail)
        .expect("fires");
    assert_eq!(a.auto_action, d::AutoAction::StopService);
    assert_eq!(a.context["matches"], json!(2));
    assert!(failing(1, "401 Unauthorized", 1.0)
        .run(d::oauth_fail)
        .is_none());
    // Long exits don't count.
    assert!(failing(5, "401 Unauthorized", 60.0)
        .run(d::oauth_fail)
        .is_none());
    // Structured path counts even with exit 0.
    let mut w = W::new();
    w.exits(
        10,
        |i| json!({"round_num": i, "exit_code": 0, "duration_s": 100.0, "timed_out": false}),
    );
    w.events
        .push(ev(20, "agent_auth_error_detected", json!({"round_num": 3})));
    assert!(w.run(d::oauth_fail).is_none());
    w.events
        .push(ev(21, "agent_auth_error_detected", json!({"round_num": 4})));
    assert!(w.run(d::oauth_fail).is_some());
}

#[test]
fn network_fail_two_in_ten_short_exits() {
    let a = failing(2, "curl: Connection reset by peer\n", 1.0)
        .run(d::network_fail)
        .expect("fires");
    assert_eq!(
        a.message,
        "2/10 recent rounds short-exited with network error pattern"
    );
    assert!(failing(1, "Connection reset", 1.0)
        .run(d::network_fail)
        .is_none());
    assert!(failing(3, "Connection reset", 59.9)
        .run(d::network_fail)
        .is_some());
}

#[test]
fn rate_limit_active_until_reset_or_recovered() {
    let mut w = W::new();
    let reset = (w.now + Duration::seconds(1)).timestamp();
    w.events.push(ev(
        0,
        "transient_error_detected",
        json!({"classification": "rate_limit", "agent": "claude", "reset_at_epoch": reset}),
    ));
    let a = w.run(d::rate_limit_active).expect("future reset fires");
    assert!(
        a.message
            .starts_with("throttled until 2026-11-20T12:01:41+00:00"),
        "{}",
        a.message
    );
    w.now = Utc.timestamp_opt(reset, 0).unwrap();
    assert!(w.run(d::rate_limit_active).is_none(), "reset == now: over");
    w.now = t0();
    w.events.push(ev(1, "transient_error_recovered", json!({})));
    assert!(w.run(d::rate_limit_active).is_none());
}

#[test]
fn anomaly_repetitive_active_within_last_five_rounds() {
    let mut w = W::new();
    w.events.push(ev(
        0,
        "anomaly_repetitive_tool",
        json!({"round_num": 6, "tool_name": "Read", "target": "a.py", "count": 9, "window": 20}),
    ));
    w.events
        .push(ev(1, "round_start", json!({"round_num": 10})));
    let a = w
        .run(d::anomaly_repetitive_active)
        .expect("round 6 within 6..10");
    assert_eq!(a.message, "1 anomaly_repetitive_tool event(s) in last 5 rounds; latest: Read on 'a.py' (9x in window 20)");
    w.events
        .push(ev(2, "round_start", json!({"round_num": 11})));
    assert!(w.run(d::anomaly_repetitive_active).is_none());
}

#[test]
fn supervisor_stale_ignores_monitor_events_and_respects_pauses() {
    let mut w = W::new();
    w.th.supervisor_stale_threshold_s = 100;
    w.events.push(ev(0, "round_end", json!({"round_num": 1})));
    w.events
        .push(ev(500, "monitor_alert_emitted", json!({"detector": "x"})));
    w.events.push(ev(501, "monitor_started", json!({})));
    w.now = t0() + Duration::seconds(100);
    assert!(w.run(d::supervisor_stale).is_none(), "age == threshold");
    w.now = t0() + Duration::seconds(101);
    let a = w
        .run(d::supervisor_stale)
        .expect("monitor events do not count");
    assert_eq!(a.context["age_s"], json!(101));
    assert!(a.message.starts_with("No events for 101s (threshold 100s)"));
    // A live schedule pause suppresses it until resume_at + threshold.
    w.events.push(ev(
        -1,
        "schedule_paused",
        json!({"resume_at": iso(t0() + Duration::seconds(50))}),
    ));
    w.now = t0() + Duration::seconds(150);
    assert!(w.run(d::supervisor_stale).is_none());
    w.now = t0() + Duration::seconds(151);
    assert!(w.run(d::supervisor_stale).is_some());
    w.th.supervisor_stale_threshold_s = 0;
    assert!(w.run(d::supervisor_stale).is_none(), "0 disables");
}

#[test]
fn supervisor_stale_stays_quiet_while_serve_defers_for_memory() {
    let mut w = W::new();
    w.th.supervisor_stale_threshold_s = 100;
    w.events.push(ev(0, "round_end", json!({"round_num": 1})));
    w.events.push(ev(
        1,
        "round_deferred",
        json!({"severity": "critical", "signal": "psi", "message": "m"}),
    ));
    w.now = t0() + Duration::hours(5);
    assert!(
        w.run(d::supervisor_stale).is_none(),
        "deferred for 5 h: not stale"
    );
    // resumed, then silent past the threshold: stale again
    w.events
        .push(ev(2, "round_resumed", json!({"deferred_for_s": 1})));
    assert!(w.run(d::supervisor_stale).is_some());
}

#[test]
fn dedup_is_per_episode_across_polls() {
    let mut dd = super::dedup::Dedup::new();
    let mut w = W::new();
    w.th.round_budget_s = 10;
    w.events.push(ev(0, "round_start", json!({"round_num": 3})));
    w.now = t0() + Duration::seconds(16);
    let v = dd.update(d::run_all(&w.w()));
    assert_eq!(v.fresh.len(), 1, "hung fires when it starts");
    // Next poll: elapsed_s moved, same episode → silent (upstream re-fired).
    w.now = t0() + Duration::seconds(46);
    let v = dd.update(d::run_all(&w.w()));
    assert!(v.fresh.is_empty());
    assert_eq!(v.ongoing.len(), 1);
    // Clears → reported cleared; starts again for a new round → fires.
    w.events.push(ev(47, "round_end", json!({"round_num": 3})));
    w.now = t0() + Duration::seconds(48);
    let v = dd.update(d::run_all(&w.w()));
    assert_eq!(v.cleared.len(), 1);
    assert_eq!(v.cleared[0].1, "hung");
    w.events
        .push(ev(48, "round_start", json!({"round_num": 4})));
    w.now = t0() + Duration::seconds(48 + 16);
    let v = dd.update(d::run_all(&w.w()));
    assert_eq!(v.fresh.len(), 1);
    assert_eq!(v.fresh[0].context["round_num"], json!(4));
    // Same-name detector: clears for one poll, then re-fires.
    let mut dd = super::dedup::Dedup::new();
    let hot = disk(json!(96.0));
    let cool = disk(json!(50.0));
    assert_eq!(dd.update(d::run_all(&hot.w())).fresh.len(), 1);
    assert_eq!(dd.update(d::run_all(&hot.w())).fresh.len(), 0);
    assert_eq!(dd.update(d::run_all(&cool.w())).cleared.len(), 1);
    assert_eq!(dd.update(d::run_all(&hot.w())).fresh.len(), 1);
}

#[test]
fn catalogue_lists_every_alert_kind_once() {
    let names: Vec<&str> = d::CATALOGUE.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), 15);
    let set: std::collections::HashSet<&&str> = names.iter().collect();
    assert_eq!(set.len(), 15);
}

#[test]
fn oauth_fail_fires_on_the_first_round_the_agent_reports_auth_and_only_notifies() {
    let mut w = W::new();
    w.exits(
        1,
        |_| json!({"round_num": 1, "exit_code": 1, "duration_s": 2.0, "timed_out": false}),
    );
    assert!(w.run(d::oauth_fail).is_none(), "an exit alone is nothing");
    w.events.push(ev(
        3,
        "agent_auth_error_detected",
        json!({"round_num": 1, "agent": "claude", "raw": "Not logged in"}),
    ));
    w.events.push(ev(3, "agent_needs_input", json!({"round_num": 1, "agent": "claude", "need": "login", "waiting_for": "a login", "remedy": "run `claude /login`"})));
    let a = w.run(d::oauth_fail).expect("fires after one round");
    assert_eq!(a.auto_action, d::AutoAction::None);
    assert_eq!(a.context["round_num"], json!(1));
    assert!(a.message.contains("claude /login"), "{}", a.message);
    // a login is oauth_fail's, not needs_input's
    assert!(w.run(d::needs_input).is_none());
    assert_eq!(d::needs_label([&a]), Some("needs login".to_string()));
    // a later round without it clears it
    w.events.push(ev(
        9,
        "agent_exit",
        json!({"round_num": 2, "exit_code": 0, "duration_s": 50.0, "timed_out": false}),
    ));
    assert!(w.run(d::oauth_fail).is_none());
}

#[test]
fn needs_input_fires_for_the_newest_round_and_names_what_it_waits_for() {
    let mut w = W::new();
    w.exits(1, |_| json!({"round_num": 4, "exit_code": -15, "duration_s": 9.0, "timed_out": false, "exit_cause": "needs_input"}));
    w.events.push(ev(10, "agent_needs_input", json!({"round_num": 4, "agent": "aider", "need": "browser_sign_in",
        "waiting_for": "a browser sign-in (OpenRouter)", "remedy": "set a provider key", "permanent": true})));
    let a = w.run(d::needs_input).expect("fires");
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.context["need"], json!("browser_sign_in"));
    assert_eq!(a.context["label"], json!("waiting for browser sign-in"));
    assert!(
        a.message.contains("round 4: aider needs a browser sign-in"),
        "{}",
        a.message
    );
    assert_eq!(
        d::needs_label([&a]),
        Some("waiting for browser sign-in".to_string())
    );
    // an older round's needs do not count once a newer round exited
    w.events.push(ev(
        20,
        "agent_exit",
        json!({"round_num": 5, "exit_code": 0, "duration_s": 50.0, "timed_out": false}),
    ));
    assert!(w.run(d::needs_input).is_none());
}

/// Thresholds and records no config loader would let through (a remote's
/// hello is not clamped when a window is built by hand): every detector
/// answers without panicking.
#[test]
fn every_detector_survives_extreme_thresholds_numbers_and_dates() {
    let mut w = W::new();
    w.th.supervisor_stale_threshold_s = u64::MAX;
    w.th.round_budget_s = u64::MAX;
    w.th.host_health.disk.growth_window_s = u64::MAX;
    w.th.host_health.memory.swap_out_noise_floor_mb = u64::MAX;
    w.th.host_health.memory.free_low_mb = u64::MAX;
    w.th.host_health.memory.avail_min_mb = u64::MAX;
    let max = "9999-12-31T23:59:59.999Z";
    let min = "0001-01-01T00:00:00.000Z";
    for (ts, rn) in [(max, i64::MAX), (min, i64::MIN), (max, i64::MIN)] {
        w.events.push(rec(
            json!({"ts": ts, "event": "round_start", "round_num": rn}),
        ));
        w.events.push(rec(
            json!({"ts": ts, "event": "schedule_paused", "round_num": rn}),
        ));
        w.events.push(rec(
            json!({"ts": ts, "event": "round_deferred", "round_num": rn, "resume_at": ts}),
        ));
        w.events.push(rec(
            json!({"ts": ts, "event": "anomaly_repetitive_tool", "round_num": rn}),
        ));
        w.events.push(rec(json!({"ts": ts, "event": "transient_error_detected", "round_num": rn, "reset_at_epoch": f64::MAX})));
        w.metrics.push(rec(json!({"ts": ts, "disk_used_pct": f64::MAX, "inode_used_pct": -f64::MAX, "swap_sout": rn, "mem_free_mb": rn, "mem_available_mb": rn})));
    }
    let all = (w.events.clone(), w.metrics.clone());
    // The whole window, and each third of it alone (every round number
    // i64::MIN, say), at the ends of time.
    for part in [None, Some(0), Some(1), Some(2)] {
        w.events = all
            .0
            .iter()
            .skip(part.map_or(0, |p| p * 5))
            .take(part.map_or(99, |_| 5))
            .cloned()
            .collect();
        w.metrics = all
            .1
            .iter()
            .skip(part.unwrap_or(0))
            .take(part.map_or(99, |_| 1))
            .cloned()
            .collect();
        for now in [t0(), DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
            w.now = now;
            let _ = d::run_all(&w.w());
            w.th.supervisor_stale_threshold_s = i64::MAX as u64;
            let _ = d::run_all(&w.w());
            w.th.supervisor_stale_threshold_s = u64::MAX;
        }
    }
}

#[test]
fn a_notify_only_episode_that_escalates_to_an_auto_stop_is_fresh_once() {
    let alert = |action| d::Alert {
        severity: Severity::Critical,
        detector: "oauth_fail",
        message: "auth".into(),
        context: serde_json::Map::new(),
        ts: "2026-12-05T00:00:00.000Z".into(),
        auto_action: action,
    };
    let mut dd = super::dedup::Dedup::new();
    let v = dd.update(vec![alert(d::AutoAction::None)]);
    assert_eq!(v.fresh.len(), 1, "the first-round form is announced");
    assert!(dd.update(vec![alert(d::AutoAction::None)]).fresh.is_empty());
    // The 10-round pattern now says stop: the stop must not be swallowed.
    let v = dd.update(vec![alert(d::AutoAction::StopService)]);
    assert_eq!(v.fresh.len(), 1, "escalation to an auto-stop is fresh");
    assert_eq!(v.fresh[0].auto_action, d::AutoAction::StopService);
    assert!(v.cleared.is_empty());
    // ... once: the stopping episode then stays ongoing, also if the
    // notify-only form is what the next poll sees.
    assert!(dd
        .update(vec![alert(d::AutoAction::StopService)])
        .fresh
        .is_empty());
    assert!(dd.update(vec![alert(d::AutoAction::None)]).fresh.is_empty());
}
