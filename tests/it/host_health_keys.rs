//! Every `[monitor.host_health]` key has an effect: for each one, the same
//! input reaches a different verdict under the default and under a changed
//! value (the ladder, the detectors, the floor's action, the growth
//! warning, the brake's streaks, target and arming). The table must name
//! every key the loader accepts, so a key that is accepted and ignored
//! fails here. The end-to-end tests (memory_gate, memory_floor,
//! memory_cgroup, serve) show the same keys driving the real binary.

use agent_runner::coma::brake::{target, Brake, Step};
use agent_runner::coma::floor::{action, growth_pressure, Action};
use agent_runner::coma::plan::CgroupPlan;
use agent_runner::config::{from_str, Config, HostHealth};
use agent_runner::detect::window::{Record, Thresholds, Window};
use agent_runner::detect::{self as d, memory_pressure};
use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const BASE: &str = "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = \"/nonexistent/p\"\nlog_dir = \"/nonexistent/p/logs\"\n\n[prompt]\nfile = \"prompts/main.md\"\n";

fn cfg(sub: &str, key_value: &str) -> Config {
    let text = if sub.is_empty() {
        BASE.to_string()
    } else {
        format!("{BASE}\n[monitor.host_health.{sub}]\n{key_value}\n")
    };
    from_str(
        std::path::Path::new("/nonexistent/p/agent-runner.toml"),
        &text,
    )
    .unwrap_or_else(|e| panic!("{key_value}: {e}"))
}

fn rec(v: Value) -> Record {
    v.as_object().cloned().unwrap_or_default()
}

/// The ladder's verdict as `severity/signal` (or `none`).
fn ladder(hh: &HostHealth, cur: Value, prev: Value) -> String {
    memory_pressure(&rec(cur), &rec(prev), hh).map_or("none".into(), |p| {
        format!("{}/{}", p.severity.as_str(), p.signal)
    })
}

/// Which disk detectors fire over these metric samples (now = the last).
fn disk(c: &Config, samples: &[(i64, Value)]) -> Vec<&'static str> {
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 20, 12, 0, 0)
        .single()
        .unwrap_or_default();
    let metrics: Vec<Record> = samples
        .iter()
        .map(|(s, v)| {
            let mut r = rec(v.clone());
            r.insert(
                "ts".into(),
                json!(agent_runner::timefmt::iso_ms(t0 + Duration::seconds(*s))),
            );
            r
        })
        .collect();
    let th = Thresholds::from_config(c);
    let tails = BTreeMap::new();
    let w = Window {
        events: &[],
        metrics: &metrics,
        log_tails: &tails,
        status: None,
        now: t0 + Duration::seconds(samples.last().map_or(0, |s| s.0)),
        thresholds: &th,
    };
    let mut out = Vec::new();
    for (name, f) in [
        (
            "disk_warning",
            d::disk_warning as fn(&Window) -> Option<d::Alert>,
        ),
        ("disk_critical", d::disk_critical),
        ("disk_growth", d::disk_growth),
    ] {
        if f(&w).is_some() {
            out.push(name);
        }
    }
    out
}

fn brake_engages_on_tick(c: &Config) -> Option<u32> {
    let mut b = Brake::new(Some("/leaf".into()), &c.monitor.host_health.brake);
    (1..=10).find(|_| b.step(true) == Step::Engage)
}

/// (key, config line, observation under a config) — the observation must
/// differ between the default and the changed value.
type Probe = fn(&Config) -> String;

fn probes() -> Vec<(&'static str, &'static str, Probe)> {
    vec![
        ("memory.avail_min_mb", "avail_min_mb = 100", |c| {
            ladder(
                &c.monitor.host_health,
                json!({"mem_free_mb": 8, "mem_available_mb": 150}),
                json!({}),
            )
        }),
        ("memory.free_low_mb", "free_low_mb = 32", |c| {
            ladder(
                &c.monitor.host_health,
                json!({"mem_free_mb": 20, "mem_available_mb": 100}),
                json!({}),
            )
        }),
        (
            "memory.swap_out_noise_floor_mb",
            "swap_out_noise_floor_mb = 64",
            |c| {
                ladder(
                    &c.monitor.host_health,
                    json!({"swap_sout": 40u64 << 20, "mem_free_mb": 500, "mem_available_mb": 900}),
                    json!({"swap_sout": 0}),
                )
            },
        ),
        ("disk.warning_pct", "warning_pct = 80.0", |c| {
            format!("{:?}", disk(c, &[(0, json!({"disk_used_pct": 85.0}))]))
        }),
        ("disk.critical_pct", "critical_pct = 92.0", |c| {
            format!("{:?}", disk(c, &[(0, json!({"disk_used_pct": 93.0}))]))
        }),
        ("disk.growth_window_s", "growth_window_s = 10800", |c| {
            format!(
                "{:?}",
                disk(
                    c,
                    &[
                        (0, json!({"disk_used_pct": 50.0})),
                        (7200, json!({"disk_used_pct": 60.0}))
                    ]
                )
            )
        }),
        (
            "disk.disk_growth_pct_per_hr_warning",
            "disk_growth_pct_per_hr_warning = 2.0",
            |c| {
                format!(
                    "{:?}",
                    disk(
                        c,
                        &[
                            (0, json!({"disk_used_pct": 50.0})),
                            (1800, json!({"disk_used_pct": 51.5}))
                        ]
                    )
                )
            },
        ),
        (
            "disk.inode_growth_pct_per_hr_warning",
            "inode_growth_pct_per_hr_warning = 2.0",
            |c| {
                format!(
                    "{:?}",
                    disk(
                        c,
                        &[
                            (0, json!({"disk_used_pct": 50.0, "inode_used_pct": 10.0})),
                            (1800, json!({"disk_used_pct": 50.0, "inode_used_pct": 11.5}))
                        ]
                    )
                )
            },
        ),
        (
            "pressure.full_avg10_critical",
            "full_avg10_critical = 80.0",
            |c| {
                ladder(
                    &c.monitor.host_health,
                    json!({"psi_some_avg10": 90.0, "psi_full_avg10": 70.0}),
                    json!({}),
                )
            },
        ),
        (
            "pressure.some_avg10_warning",
            "some_avg10_warning = 3.0",
            |c| {
                ladder(
                    &c.monitor.host_health,
                    json!({"psi_some_avg10": 4.0, "psi_full_avg10": 0.0}),
                    json!({}),
                )
            },
        ),
        (
            "pressure.critical_consecutive_samples",
            "critical_consecutive_samples = 2",
            |c| {
                format!(
                    "{:?}",
                    action(&c.monitor.host_health.pressure, false, 2, false)
                )
            },
        ),
        (
            "pressure.in_round_terminate",
            "in_round_terminate = false",
            |c| {
                format!(
                    "{:?}",
                    action(&c.monitor.host_health.pressure, false, 3, false)
                )
            },
        ),
        (
            "pressure.cgroup_growth_rate_warning_mb_per_min",
            "cgroup_growth_rate_warning_mb_per_min = 1000.0",
            |c| {
                format!(
                    "{:?}",
                    growth_pressure(Some(600.0), &c.monitor.host_health.pressure).map(|p| p.signal)
                )
            },
        ),
        ("pressure.in_round_nudge", "in_round_nudge = true", |c| {
            format!(
                "{:?}",
                action(&c.monitor.host_health.pressure, false, 1, false)
            )
        }),
        ("brake.memory_high", "memory_high = true", |c| {
            let plan = CgroupPlan {
                leaf: Some("/system.slice/x.service".into()),
                delegated: Some(true),
                ..Default::default()
            };
            format!(
                "{}",
                plan.brake_armed(c.monitor.host_health.brake.memory_high)
            )
        }),
        (
            "brake.memory_high_step_pct",
            "memory_high_step_pct = 25",
            |c| {
                format!(
                    "{:?}",
                    target(400 << 20, c.monitor.host_health.brake.memory_high_step_pct)
                )
            },
        ),
        (
            "brake.warning_consecutive_samples",
            "warning_consecutive_samples = 1",
            |c| format!("{:?}", brake_engages_on_tick(c)),
        ),
    ]
}

#[test]
fn every_host_health_key_changes_a_verdict() {
    let default = cfg("", "");
    let mut named: Vec<String> = Vec::new();
    for (key, line, probe) in probes() {
        let (sub, _) = key.split_once('.').unwrap_or_default();
        let changed = cfg(sub, line);
        let (a, b) = (probe(&default), probe(&changed));
        assert_ne!(a, b, "{key}: '{line}' changes nothing ({a})");
        named.push(key.to_string());
    }
    let mut all = agent_runner::config::load::host_health_keys();
    all.sort();
    named.sort();
    assert_eq!(named, all, "every accepted key needs a probe here");
}

#[test]
fn the_verdicts_each_key_changes() {
    let d = cfg("", "");
    let hh = &d.monitor.host_health;
    // spot-check the defaults the probes start from
    assert_eq!(
        ladder(
            hh,
            json!({"mem_free_mb": 8, "mem_available_mb": 150}),
            json!({})
        ),
        "warning/combined_low"
    );
    assert_eq!(
        ladder(
            hh,
            json!({"psi_some_avg10": 90.0, "psi_full_avg10": 70.0}),
            json!({})
        ),
        "critical/psi"
    );
    assert_eq!(action(&hh.pressure, false, 3, false), Action::Terminate);
    assert_eq!(action(&hh.pressure, false, 1, false), Action::CountOnly);
    assert_eq!(brake_engages_on_tick(&d), Some(3));
    let c = cfg("pressure", "full_avg10_critical = 80.0");
    assert_eq!(
        ladder(
            &c.monitor.host_health,
            json!({"psi_some_avg10": 90.0, "psi_full_avg10": 70.0}),
            json!({})
        ),
        "warning/psi"
    );
    // a 0.2 flat key is the same setting
    let flat = from_str(
        std::path::Path::new("/nonexistent/p/agent-runner.toml"),
        &format!("{BASE}\n[monitor.host_health]\npsi_full_avg10_critical = 80.0\nin_round_mem_terminate = false\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(flat.monitor.host_health.pressure.full_avg10_critical, 80.0);
    assert_eq!(
        action(&flat.monitor.host_health.pressure, false, 3, false),
        Action::CountOnly
    );
}
