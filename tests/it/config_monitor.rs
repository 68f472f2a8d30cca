//! The `[monitor]` keys and `[monitor.host_health]` thresholds do what the
//! key table says, through the binary: the heartbeat, the repetition event,
//! and the detectors `monitor --once` runs with the configured values.

use crate::config_effects::{ok, write};
use crate::support::logdir::Fixture;
use crate::support::*;
use serde_json::Value;

#[test]
fn round_progress_interval_s_sends_heartbeats() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; echo working; sleep 2.5");
    write(
        &p,
        &a,
        "",
        "",
        "",
        "[monitor]\nround_progress_interval_s = 1",
    );
    ok(&p.run(&["round"]));
    let beats = p.events_of("round_progress");
    assert!(!beats.is_empty(), "{:?}", p.kinds());
    assert_eq!(
        payload_keys(&beats[0]),
        ["round_num", "log_size_kb", "last_write_age_s", "wall_age_s"]
    );
    // off by default
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; sleep 2.5");
    write(&p, &a, "", "", "", "");
    ok(&p.run(&["round"]));
    assert!(p.events_of("round_progress").is_empty());
}

fn alerts(f: &Fixture) -> Vec<Value> {
    let o = f.cli(&["monitor", "--once", "--json"]);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn detectors(f: &Fixture) -> Vec<String> {
    alerts(f)
        .iter()
        .filter_map(|a| a["detector"].as_str().map(String::from))
        .collect()
}

#[test]
fn auth_fail_patterns_and_hint_shape_the_oauth_alert() {
    let f = Fixture::new();
    for n in 1..=10 {
        let failed = n > 8;
        f.round(
            n,
            1000 - n as i64 * 10,
            i64::from(failed),
            if failed { "error" } else { "clean" },
            if failed {
                "gateway said: custom-denied\n"
            } else {
                "ok\n"
            },
        );
    }
    f.write_config("supervisor_stale_threshold_s = 0");
    assert!(!detectors(&f).contains(&"oauth_fail".to_string()));
    f.write_config(
        "supervisor_stale_threshold_s = 0\nauth_fail_patterns = [\"CUSTOM-denied\"]\nauth_fail_hint = \"run login-x\"",
    );
    let a = alerts(&f);
    let oauth = a
        .iter()
        .find(|a| a["detector"] == "oauth_fail")
        .unwrap_or_else(|| panic!("no oauth_fail in {a:?}"));
    assert_eq!(oauth["context"]["hint"], "run login-x");
}

#[test]
fn anomaly_repetitive_keys_arm_the_repetition_event() {
    let line = |target: &str| {
        serde_json::json!({"type": "assistant", "message": {"model": "claude-opus-4-7", "content": [
            {"type": "tool_use", "id": "t", "name": "Read", "input": {"file_path": target}}]}})
        .to_string()
    };
    let out = [line("/a.rs"), line("/a.rs"), line("/a.rs"), line("/b.rs")].join("\n");
    let run = |monitor: &str| {
        let p = Project::new();
        let data = p.tmp.path().join("claude.out");
        std::fs::write(&data, &out).unwrap_or_else(|e| panic!("{e}"));
        let a = p.agent(
            "claude",
            &format!("cat >/dev/null; cat '{}'", data.display()),
        );
        write(&p, &a, "", "", "", monitor);
        ok(&p.run(&["round"]));
        p.events_of("anomaly_repetitive_tool")
    };
    let ev = run("[monitor]\nanomaly_repetitive_window = 10\nanomaly_repetitive_threshold = 3");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["count"], 3);
    assert_eq!(ev[0]["window"], 10);
    assert_eq!(ev[0]["target"], "/a.rs");
    assert!(
        run("[monitor]\nanomaly_repetitive_window = 10\nanomaly_repetitive_threshold = 4")
            .is_empty()
    );
    assert!(run("").is_empty(), "off by default");
}

#[test]
fn host_health_thresholds_come_from_the_config() {
    let now = |f: &Fixture, v: serde_json::Value| f.metric(0, v);
    let base = "supervisor_stale_threshold_s = 0";
    let with = |f: &Fixture, hh: &str| {
        f.write_config(&format!("{base}\n{hh}"));
        detectors(f)
    };
    // disk level
    let f = Fixture::new();
    now(&f, serde_json::json!({"disk_used_pct": 50.0}));
    assert!(with(&f, "").is_empty());
    assert_eq!(
        with(&f, "[monitor.host_health.disk]\nwarning_pct = 45"),
        ["disk_warning"]
    );
    let d = with(
        &f,
        "[monitor.host_health.disk]\nwarning_pct = 45\ncritical_pct = 49.5",
    );
    assert!(d.contains(&"disk_critical".to_string()), "{d:?}");
    // disk and inode growth: +1 point in 1000 s = 3.6 points per hour
    for (disk, inode, key) in [
        (51.0, 10.0, "disk_growth_pct_per_hr_warning"),
        (50.0, 11.0, "inode_growth_pct_per_hr_warning"),
    ] {
        let f = Fixture::new();
        f.metric(
            1000,
            serde_json::json!({"disk_used_pct": 50.0, "inode_used_pct": 10.0}),
        );
        now(
            &f,
            serde_json::json!({"disk_used_pct": disk, "inode_used_pct": inode}),
        );
        assert!(with(&f, "").is_empty());
        let set = format!("[monitor.host_health.disk]\n{key} = 3.0");
        assert_eq!(with(&f, &set), ["disk_growth"], "{key}");
        if key.starts_with("disk") {
            assert!(with(&f, &format!("{set}\ngrowth_window_s = 900")).is_empty());
        }
    }
    // memory: PSI rungs
    let f = Fixture::new();
    now(
        &f,
        serde_json::json!({"psi_some_avg10": 4.0, "psi_full_avg10": 10.0, "mem_free_mb": 500, "mem_available_mb": 900, "swap_sout": 0}),
    );
    assert!(with(&f, "").is_empty());
    let sev = |hh: &str| {
        f.write_config(&format!("{base}\n{hh}"));
        alerts(&f)
            .iter()
            .find(|a| a["detector"] == "mem_pressure")
            .map(|a| a["severity"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        sev("[monitor.host_health.pressure]\nsome_avg10_warning = 3.0").as_deref(),
        Some("warning")
    );
    assert_eq!(
        sev("[monitor.host_health.pressure]\nfull_avg10_critical = 9.0").as_deref(),
        Some("critical")
    );
    // memory: swap-out above the floor with little free memory
    let f = Fixture::new();
    f.metric(
        60,
        serde_json::json!({"swap_sout": 0, "mem_free_mb": 10, "mem_available_mb": 900}),
    );
    now(
        &f,
        serde_json::json!({"swap_sout": 20 * 1024 * 1024, "mem_free_mb": 10, "mem_available_mb": 900}),
    );
    let mem = |hh: &str| with(&f, hh).contains(&"mem_pressure".to_string());
    assert!(!mem(""));
    assert!(mem(
        "[monitor.host_health.memory]\nswap_out_noise_floor_mb = 16"
    ));
    let f = Fixture::new();
    f.metric(
        60,
        serde_json::json!({"swap_sout": 0, "mem_free_mb": 20, "mem_available_mb": 900}),
    );
    now(
        &f,
        serde_json::json!({"swap_sout": 20 * 1024 * 1024, "mem_free_mb": 20, "mem_available_mb": 900}),
    );
    let crit = |hh: &str| {
        f.write_config(&format!("{base}\n{hh}"));
        alerts(&f)
            .iter()
            .find(|a| a["detector"] == "mem_pressure")
            .map(|a| a["severity"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        crit("[monitor.host_health.memory]\nswap_out_noise_floor_mb = 16").as_deref(),
        Some("warning")
    );
    assert_eq!(
        crit("[monitor.host_health.memory]\nswap_out_noise_floor_mb = 16\nfree_low_mb = 30")
            .as_deref(),
        Some("critical")
    );
    // memory: combined low
    let f = Fixture::new();
    now(
        &f,
        serde_json::json!({"mem_free_mb": 20, "mem_available_mb": 250, "swap_sout": 0}),
    );
    let mem = |hh: &str| with(&f, hh).contains(&"mem_pressure".to_string());
    assert!(!mem(""));
    assert!(!mem("[monitor.host_health.memory]\nfree_low_mb = 30"));
    assert!(mem(
        "[monitor.host_health.memory]\nfree_low_mb = 30\navail_min_mb = 300"
    ));
}
