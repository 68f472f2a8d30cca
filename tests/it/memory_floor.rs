//! The mid-round floor (0.3 delta §4.4) through the real binary: the fake
//! agents make the pressure appear themselves (they write the fixture tree
//! the binary reads through the `AGENT_RUNNER_SYS_ROOT` test hook), and the
//! round's wait loop ticks every 100–200 ms (`AGENT_RUNNER_MEM_TICK_MS`),
//! except in the one test that shows the real 10 s tick.

use crate::support::sysroot::{agent_sets_psi, SysRoot};
use crate::support::*;
use serde_json::Value;
use std::time::{Duration, Instant};

fn serve_once(p: &Project, root: &SysRoot, tick_ms: Option<u64>) -> std::process::Output {
    let mut c = p.cmd(&["serve", "--once"]);
    root.apply(&mut c, tick_ms);
    let o = c.output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{:?}",
        String::from_utf8_lossy(&o.stderr),
        p.kinds()
    );
    o
}

fn pid_in(p: &Project, name: &str) -> i32 {
    read_pids(&p.tmp.path().join(name))
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no pid in {name}"))
}

fn consecutive(p: &Project) -> Vec<i64> {
    p.events_of("round_mem_critical_sample")
        .iter()
        .map(|e| e["consecutive"].as_i64().unwrap_or(-1))
        .collect()
}

#[test]
fn a_critical_streak_terminates_a_live_agent_its_group_and_its_escapee() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    let t = p.tmp.path().display().to_string();
    let a = p.agent(
        "hog.sh",
        &format!(
            "cat >/dev/null\necho $$ > {t}/agent.pid\nsetsid bash -c 'echo $$ > {t}/esc.pid; exec sleep 1000' &\nsleep 1000 &\necho $! > {t}/child.pid\n{}\nwait",
            agent_sets_psi(95.0, 75.0)
        ),
    );
    p.config(
        &a,
        "round_budget_s = 120",
        "[monitor.host_health.pressure]\ncritical_consecutive_samples = 2\n",
    );
    let t0 = Instant::now();
    serve_once(&p, &root, Some(200));
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    assert_eq!(consecutive(&p), [1, 2]);
    let s = &p.events_of("round_mem_critical_sample")[0];
    assert_eq!(payload_keys(s), ["round_num", "consecutive", "context"]);
    assert_eq!(s["context"]["psi_full_avg10"], 75.0);
    let m = p.events_of("round_mem_terminated");
    assert_eq!(m.len(), 1, "{:?}", p.kinds());
    assert_eq!(
        payload_keys(&m[0]),
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
    assert_eq!(m[0]["tier"], "terminate");
    assert_eq!(m[0]["severity"], "critical");
    assert_eq!(m[0]["signal"], "psi");
    assert_eq!(m[0]["consecutive"], 2);
    assert_eq!(m[0]["round_num"], 1);
    assert_eq!(m[0]["pid"], pid_in(&p, "agent.pid"));
    for f in ["agent.pid", "child.pid", "esc.pid"] {
        assert!(!alive(pid_in(&p, f)), "{f} survived the memory floor");
    }
    let exit = &p.events_of("agent_exit")[0];
    assert_eq!(exit["exit_code"], -15, "{exit}");
    let esc = p.events_of("round_escaped_processes_killed");
    assert!(
        esc.iter().any(|e| e["processes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["pid"] == pid_in(&p, "esc.pid")))),
        "{esc:?}"
    );
    // the round still ran to its end
    assert_eq!(p.events_of("round_end").len(), 1);
}

#[test]
fn the_floor_ticks_every_10_s_without_the_test_hook() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    let a = p.agent(
        "hog.sh",
        &format!(
            "cat >/dev/null\n{}\nexec sleep 1000",
            agent_sets_psi(95.0, 75.0)
        ),
    );
    p.config(
        &a,
        "round_budget_s = 120",
        "[monitor.host_health.pressure]\ncritical_consecutive_samples = 1\n",
    );
    serve_once(&p, &root, None);
    let exit = &p.events_of("agent_exit")[0];
    let d = exit["duration_s"].as_f64().unwrap_or(0.0);
    assert!((9.5..25.0).contains(&d), "terminated after {d}s: {exit}");
    assert_eq!(p.events_of("round_mem_terminated").len(), 1);
}

#[test]
fn in_round_terminate_false_counts_only_and_caps_the_samples() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    let a = p.agent(
        "hog.sh",
        &format!(
            "cat >/dev/null\n{}\nsleep 2\nexit 0",
            agent_sets_psi(95.0, 75.0)
        ),
    );
    p.config(
        &a,
        "round_budget_s = 120",
        "[monitor.host_health.pressure]\ncritical_consecutive_samples = 1\nin_round_terminate = false\n",
    );
    serve_once(&p, &root, Some(100));
    assert_eq!(
        consecutive(&p),
        [1, 2],
        "capped at 2 x critical_consecutive_samples"
    );
    assert!(p.events_of("round_mem_terminated").is_empty());
    assert!(p.events_of("mem_pressure_deferred_to_cgroup").is_empty());
    assert_eq!(p.events_of("agent_exit")[0]["exit_code"], 0);
}

#[test]
fn the_nudge_sends_a_bare_sigterm_on_the_first_critical_tick() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    let t = p.tmp.path().display().to_string();
    let a = p.agent(
        "coop.sh",
        &format!(
            "cat >/dev/null\ntrap 'echo wrapped-up > {t}/nudged; exit 0' TERM\nsleep 1000 &\necho $! > {t}/child.pid\n{}\nwait",
            agent_sets_psi(95.0, 75.0)
        ),
    );
    p.config(
        &a,
        "round_budget_s = 120",
        "[monitor.host_health.pressure]\nin_round_nudge = true\n",
    );
    serve_once(&p, &root, Some(200));
    let m = p.events_of("round_mem_terminated");
    assert_eq!(m.len(), 1, "{:?}", p.kinds());
    assert_eq!(m[0]["tier"], "nudge");
    assert_eq!(m[0]["consecutive"], 1);
    assert!(
        p.tmp.path().join("nudged").exists(),
        "the agent got no SIGTERM"
    );
    assert_eq!(p.events_of("agent_exit")[0]["exit_code"], 0);
    // its child only had the leader's SIGTERM... and the leftovers sweep
    assert!(!alive(pid_in(&p, "child.pid")));
}

#[test]
fn swap_out_with_low_memfree_terminates_without_psi() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    root.no_psi();
    root.meminfo(1024, 4, 500, 512); // MemFree 4 < 16; MemAvailable is "fine"
    let a = p.agent(
        "swapper.sh",
        "cat >/dev/null\nn=0\nwhile :; do n=$((n + 25600)); printf 'pswpin 0\\npswpout %d\\n' $n > \"$SYS_ROOT/proc/vmstat.tmp\"; mv \"$SYS_ROOT/proc/vmstat.tmp\" \"$SYS_ROOT/proc/vmstat\"; sleep 0.05; done",
    );
    p.config(
        &a,
        "round_budget_s = 120",
        "[monitor.host_health.pressure]\ncritical_consecutive_samples = 2\n",
    );
    serve_once(&p, &root, Some(200));
    let m = p.events_of("round_mem_terminated");
    assert_eq!(m.len(), 1, "{:?}", p.kinds());
    assert_eq!(m[0]["signal"], "swap_out_rate");
    assert_eq!(m[0]["context"]["mem_free_mb"], 4);
    assert!(m[0]["context"]["swap_sout_delta"].as_i64().unwrap_or(0) > 32 << 20);
}

#[test]
fn combined_low_is_a_warning_the_monitor_reports_and_the_floor_leaves_alone() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    root.no_psi();
    root.meminfo(1024, 8, 100, 0); // both under 16 / 200
    let a = p.agent("ok.sh", "cat >/dev/null; sleep 1; exit 0");
    p.config(&a, "round_budget_s = 120", "");
    serve_once(&p, &root, Some(100));
    assert!(p.events_of("round_deferred").is_empty());
    assert!(p.events_of("round_mem_critical_sample").is_empty());
    assert_eq!(p.events_of("agent_exit")[0]["exit_code"], 0);
    let o = p.run(&["monitor", "--once", "--json"]);
    let alerts: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mp = alerts
        .iter()
        .find(|a| a["detector"] == "mem_pressure")
        .unwrap_or_else(|| panic!("no mem_pressure: {alerts:?}"));
    assert_eq!(mp["severity"], "warning");
    assert_eq!(
        mp["message"],
        "mem_free_mb 8 < 16 and mem_available_mb 100 < 200"
    );
}

#[test]
fn the_growth_of_the_agents_tree_rss_is_a_warning_once() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    // quiet for a few ticks, then ~300 MB within one tick, held
    let a = p.agent(
        "grow.sh",
        "cat >/dev/null\nsleep 1.6\nexec python3 -c 'import time; a = b\"x\" * (300 << 20); time.sleep(2.5)'",
    );
    p.config(
        &a,
        "round_budget_s = 120",
        "[monitor.host_health.pressure]\ncgroup_growth_rate_warning_mb_per_min = 6000\n",
    );
    serve_once(&p, &root, Some(500));
    let g = p.events_of("cgroup_growth_rate_warning");
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(
        payload_keys(&g[0]),
        [
            "round_num",
            "rate_mb_per_min",
            "threshold_mb_per_min",
            "source",
            "context"
        ]
    );
    assert_eq!(g[0]["source"], "rss_sum");
    assert_eq!(g[0]["threshold_mb_per_min"], 6000.0);
    assert!(g[0]["rate_mb_per_min"].as_f64().unwrap_or(0.0) >= 6000.0);
    // observability only
    assert_eq!(p.events_of("agent_exit")[0]["exit_code"], 0);
    // peek shows it from the event log
    let doc: Value = serde_json::from_slice(&p.run(&["peek", "--json"]).stdout).unwrap_or_default();
    let recent = doc["recent_cgroup_growth_warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(recent.len(), 1, "{doc}");
    assert_eq!(recent[0]["rate_mb_per_min"], g[0]["rate_mb_per_min"]);
    let text = String::from_utf8_lossy(&p.run(&["peek"]).stdout).into_owned();
    let want = format!(
        "growth    R1 grew {:.0} MB/min (rss_sum)",
        g[0]["rate_mb_per_min"].as_f64().unwrap_or(0.0)
    );
    assert!(text.contains(&want), "{want:?} not in:\n{text}");
}
