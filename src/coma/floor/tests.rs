use super::*;
use crate::state::Layout;
use serde_json::Value;

fn rec(v: Value) -> Record {
    v.as_object().cloned().unwrap_or_default()
}
fn critical() -> Record {
    rec(json!({"psi_some_avg10": 90.0, "psi_full_avg10": 75.0}))
}
fn warning() -> Record {
    rec(json!({"psi_some_avg10": 20.0, "psi_full_avg10": 1.0}))
}
fn healthy() -> Record {
    rec(json!({"psi_some_avg10": 0.0, "psi_full_avg10": 0.0}))
}

struct T {
    _d: tempfile::TempDir,
    log: EventLog,
}
impl T {
    fn new() -> T {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = EventLog::new(Layout::new(d.path()));
        T { _d: d, log }
    }
    fn kinds(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for f in self.log.layout().event_files() {
            for l in std::fs::read_to_string(f).unwrap_or_default().lines() {
                let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
                let k = v["event"].as_str().unwrap_or("").to_string();
                out.push((k, v));
            }
        }
        out
    }
    fn count(&self, k: &str) -> usize {
        self.kinds().iter().filter(|(x, _)| x == k).count()
    }
}

fn hh(f: impl FnOnce(&mut HostHealth)) -> HostHealth {
    let mut h = crate::coma::test_host_health();
    f(&mut h);
    h
}

#[test]
fn action_table() {
    let p = hh(|_| {}).pressure;
    assert_eq!(action(&p, false, 1, false), Action::CountOnly);
    assert_eq!(action(&p, false, 3, false), Action::Terminate);
    assert_eq!(action(&p, true, 3, false), Action::Defer);
    let off = hh(|h| h.pressure.in_round_terminate = false).pressure;
    assert_eq!(
        action(&off, true, 9, false),
        Action::CountOnly,
        "the off switch wins over defer"
    );
    let nudge = hh(|h| h.pressure.in_round_nudge = true).pressure;
    assert_eq!(action(&nudge, false, 1, false), Action::Nudge);
    assert_eq!(action(&nudge, false, 1, true), Action::CountOnly);
    assert_eq!(action(&nudge, false, 2, true), Action::CountOnly);
    assert_eq!(
        action(&nudge, true, 1, false),
        Action::CountOnly,
        "no nudge when deferring"
    );
    let one = hh(|h| {
        h.pressure.in_round_nudge = true;
        h.pressure.critical_consecutive_samples = 1;
    })
    .pressure;
    assert_eq!(action(&one, false, 1, false), Action::Terminate);
}

#[test]
fn a_critical_streak_terminates_at_the_threshold_and_a_healthy_tick_resets_it() {
    let t = T::new();
    let h = hh(|_| {});
    let mut f = Floor::new(&t.log, &h, 4, false, None);
    assert_eq!(f.step(critical(), 77, None), Verdict::Continue);
    assert_eq!(f.step(critical(), 77, None), Verdict::Continue);
    assert_eq!(f.step(healthy(), 77, None), Verdict::Continue);
    assert_eq!(f.step(critical(), 77, None), Verdict::Continue);
    assert_eq!(
        f.step(warning(), 77, None),
        Verdict::Continue,
        "warning resets too"
    );
    assert_eq!(f.step(critical(), 77, None), Verdict::Continue);
    assert_eq!(f.step(critical(), 77, None), Verdict::Continue);
    assert_eq!(f.step(critical(), 77, None), Verdict::Terminate);
    assert!(f.mem_terminated);
    let ev = t.kinds();
    let samples: Vec<i64> = ev
        .iter()
        .filter(|(k, _)| k == "round_mem_critical_sample")
        .map(|(_, v)| v["consecutive"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(samples, [1, 2, 1, 1, 2, 3]);
    let term: Vec<&Value> = ev
        .iter()
        .filter(|(k, _)| k == "round_mem_terminated")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(term.len(), 1);
    let keys: Vec<&str> = term[0]
        .as_object()
        .map(|m| m.keys().skip(2).map(|k| k.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "pid",
            "severity",
            "signal",
            "message",
            "consecutive",
            "context",
            "tier",
            "round_num"
        ]
    );
    assert_eq!(term[0]["tier"], "terminate");
    assert_eq!(term[0]["pid"], 77);
    assert_eq!(term[0]["consecutive"], 3);
    assert_eq!(term[0]["context"]["psi_full_avg10"], 75.0);
}

#[test]
fn count_only_and_defer_cap_their_events_per_episode() {
    for (defer, off) in [(false, true), (true, false)] {
        let t = T::new();
        let h = hh(|h| h.pressure.in_round_terminate = !off);
        let mut f = Floor::new(&t.log, &h, 1, defer, None);
        for _ in 0..10 {
            assert_eq!(f.step(critical(), 5, None), Verdict::Continue);
        }
        assert_eq!(t.count("round_mem_critical_sample"), 6, "capped at 2 x 3");
        assert_eq!(t.count("round_mem_terminated"), 0);
        assert_eq!(
            t.count("mem_pressure_deferred_to_cgroup"),
            usize::from(defer)
        );
        // a new episode after a healthy tick: samples and the notice again
        f.step(healthy(), 5, None);
        f.step(critical(), 5, None);
        f.step(critical(), 5, None);
        f.step(critical(), 5, None);
        assert_eq!(t.count("round_mem_critical_sample"), 9);
        assert_eq!(
            t.count("mem_pressure_deferred_to_cgroup"),
            2 * usize::from(defer)
        );
        assert!(!f.mem_terminated);
    }
}

#[test]
fn the_nudge_comes_first_then_the_terminate() {
    let t = T::new();
    let h = hh(|h| h.pressure.in_round_nudge = true);
    let mut f = Floor::new(&t.log, &h, 2, false, None);
    assert_eq!(f.step(critical(), 9, None), Verdict::Nudge);
    assert_eq!(f.step(critical(), 9, None), Verdict::Continue);
    assert_eq!(f.step(critical(), 9, None), Verdict::Terminate);
    let tiers: Vec<String> = t
        .kinds()
        .iter()
        .filter(|(k, _)| k == "round_mem_terminated")
        .map(|(_, v)| v["tier"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(tiers, ["nudge", "terminate"]);
}

#[test]
fn swap_out_is_a_per_tick_rate_so_a_recovered_host_resets_the_streak() {
    let t = T::new();
    let h = hh(|h| h.pressure.critical_consecutive_samples = 2);
    let mut f = Floor::new(&t.log, &h, 1, false, None);
    let s = |sout: u64| rec(json!({"swap_sout": sout, "mem_free_mb": 4, "mem_available_mb": 400}));
    let g = 1u64 << 30;
    let m = 1u64 << 20;
    assert_eq!(
        f.step(s(g), 1, None),
        Verdict::Continue,
        "first tick: no rate"
    );
    assert_eq!(f.step(s(g + 100 * m), 1, None), Verdict::Continue);
    // the same total as the last tick: no swap-out in this interval
    assert_eq!(f.step(s(g + 100 * m), 1, None), Verdict::Continue);
    assert_eq!(f.step(s(g + 200 * m), 1, None), Verdict::Continue);
    assert_eq!(f.step(s(g + 300 * m), 1, None), Verdict::Terminate);
    let sig: Vec<String> = t
        .kinds()
        .iter()
        .filter(|(k, _)| k == "round_mem_terminated")
        .map(|(_, v)| v["signal"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(sig, ["swap_out_rate"]);
}

#[test]
fn growth_warning_is_edge_triggered_and_names_its_source() {
    let t = T::new();
    let h = hh(|h| h.pressure.cgroup_growth_rate_warning_mb_per_min = 100.0);
    let mut f = Floor::new(&t.log, &h, 3, false, None);
    let gib = 1u64 << 30;
    f.step(healthy(), 1, Some((gib, "rss_sum")));
    // an instant later, +1 GiB: a huge rate
    f.step(healthy(), 1, Some((2 * gib, "rss_sum")));
    f.step(healthy(), 1, Some((3 * gib, "rss_sum")));
    assert_eq!(
        t.count("cgroup_growth_rate_warning"),
        1,
        "once per crossing"
    );
    f.step(healthy(), 1, Some((3 * gib, "rss_sum")));
    f.step(healthy(), 1, Some((4 * gib, "rss_sum")));
    let ev: Vec<Value> = t
        .kinds()
        .into_iter()
        .filter(|(k, _)| k == "cgroup_growth_rate_warning")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(ev.len(), 2, "again after it cleared");
    assert_eq!(ev[0]["source"], "rss_sum");
    assert_eq!(ev[0]["round_num"], 3);
    assert_eq!(ev[0]["threshold_mb_per_min"], 100.0);
    assert!(ev[0]["rate_mb_per_min"].as_f64().unwrap_or(0.0) >= 100.0);
}

#[test]
fn rates_never_go_negative_or_divide_by_zero() {
    let t0 = Instant::now();
    assert_eq!(rate_mb_per_min(None, 5, t0), None);
    assert_eq!(rate_mb_per_min(Some((10, t0)), 5, t0), Some(0.0));
    let later = t0 + Duration::from_secs(60);
    assert_eq!(
        rate_mb_per_min(Some((2 << 20, t0)), 1 << 20, later),
        Some(0.0)
    );
    assert_eq!(
        rate_mb_per_min(Some((0, t0)), 512 << 20, later),
        Some(512.0)
    );
}
