//! `detector_error` (0.3 delta §5.2): a detector that cannot read its input
//! is recorded as `detector_error {detector, error}` and gives no verdict;
//! the other detectors still run. The Python tool 0.3.14 fails the same
//! detectors on the same log_dir. Ours records a failure once per episode
//! (upstream re-records it every poll).

use crate::support::*;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A project whose newest metrics sample has a disk figure that is text, and
/// whose newest round started hours ago and never ended (`hung`).
fn broken_metrics(p: &Project) {
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    let cfg = p.config(&a, "round_budget_s = 60", "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace("restart_delay_s = 0", "restart_delay_s = 1");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    let now = chrono::Utc::now();
    let month = now.format("%Y-%m");
    let old = agent_runner::timefmt::iso_ms(now - chrono::Duration::seconds(3 * 3600));
    let ts = agent_runner::timefmt::iso_ms(now);
    std::fs::write(
        p.log_dir().join(format!("metrics-{month}.jsonl")),
        format!("{{\"ts\": \"{ts}\", \"event\": \"round_start\", \"mem_total_mb\": 1000, \"mem_used_pct\": 10.0, \"mem_available_mb\": 900, \"disk_total_gb\": 100.0, \"disk_free_gb\": 1.0, \"disk_used_pct\": \"99\", \"load_1m\": 0.1, \"round_num\": 1}}\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        p.log_dir().join(format!("events-{month}.jsonl")),
        format!("{{\"ts\": \"{old}\", \"event\": \"round_start\", \"round_num\": 1, \"phase\": null}}\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Run a monitor (ours or the Python tool) until `done` holds, then end it.
fn watch(mut c: Command, p: &Project, done: impl Fn(&Project) -> bool) {
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let ok = wait_until(Duration::from_secs(20), || done(p));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        ok,
        "the monitor did not record what was expected: {:?}",
        p.kinds()
    );
}

fn failed_detectors(p: &Project) -> Vec<String> {
    p.events_of("detector_error")
        .iter()
        .filter_map(|e| e["detector"].as_str().map(String::from))
        .collect()
}

#[test]
fn a_detector_that_cannot_read_its_input_is_recorded_and_the_others_run() {
    let p = Project::new();
    broken_metrics(&p);
    let mut c = p.cmd(&["monitor", "--interval", "0.5"]);
    c.current_dir(&p.dir);
    watch(c, &p, |p| {
        p.events_of("monitor_alert_emitted").len() >= 2 && p.events_of("detector_error").len() >= 2
    });
    // Give it three more polls: a failure is recorded once per episode.
    std::thread::sleep(Duration::from_millis(100));
    let mut c = p.cmd(&["monitor", "--interval", "0.5"]);
    c.current_dir(&p.dir);
    let before = p.events_of("monitor_started").len();
    watch(c, &p, |p| p.events_of("monitor_started").len() > before);
    std::thread::sleep(Duration::from_millis(1600));
    let errors = p.events_of("detector_error");
    let failed: Vec<String> = failed_detectors(&p);
    assert_eq!(
        failed.iter().collect::<BTreeSet<_>>(),
        ["disk_critical", "disk_warning"]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .iter()
            .collect::<BTreeSet<_>>(),
        "{errors:?}"
    );
    // Once per monitor process (two ran, over several polls each).
    let runs = p.events_of("monitor_started").len();
    assert_eq!(runs, 2);
    assert_eq!(failed.len(), 2 * runs, "{errors:?}");
    assert_eq!(payload_keys(&errors[0]), ["detector", "error"]);
    assert!(
        errors[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("disk_used_pct") && e.contains("not a number")),
        "{}",
        errors[0]
    );
    let alerts: Vec<String> = p
        .events_of("monitor_alert_emitted")
        .iter()
        .filter_map(|e| e["detector"].as_str().map(String::from))
        .collect();
    assert!(alerts.contains(&"hung".to_string()), "{alerts:?}");
    assert!(!alerts.iter().any(|a| a.starts_with("disk_")), "{alerts:?}");
    // `monitor --once` names the failed detectors on stderr.
    let o = p.run(&["monitor", "--once"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("detector 'disk_warning' could not run"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(1), "hung is still an alert");
}

#[test]
fn the_python_tool_fails_the_same_detectors_on_the_same_log_dir() {
    let p = Project::new();
    broken_metrics(&p);
    let mut c = Command::new(python_tool());
    c.args(["monitor", "--interval", "1"])
        .current_dir(&p.dir)
        .env("HOME", &p.home);
    watch(c, &p, |p| p.events_of("detector_error").len() >= 2);
    let theirs: BTreeSet<String> = failed_detectors(&p).into_iter().collect();
    let ev = agent_runner::witness::monitor::check_once(
        &agent_runner::config::load(&p.dir.join("agent-runner.toml"))
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ours: BTreeSet<String> = ev.failures.iter().map(|f| f.detector.to_string()).collect();
    assert_eq!(ours, theirs);
}
