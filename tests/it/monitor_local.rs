//! The local anomaly monitor over a real log_dir: incremental polls, per-episode
//! dedup with `monitor_*` events, auto-stop through the StopAction seam, the
//! pid-file stop against a real process, and `supervisor_stale` not silenced by
//! the monitor's own events.

use crate::support::logdir;

use agent_runner::config::Config;
use agent_runner::witness::monitor::{Monitor, PidFileStop, StopAction};
use logdir::Fixture;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl StopAction for Recorder {
    fn request_stop(&self, cfg: &Config) -> Result<String, String> {
        self.0
            .lock()
            .unwrap()
            .push(cfg.runtime.log_dir.display().to_string());
        Ok("recorded".into())
    }
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn auto_stop_fires_once_per_episode_and_records_monitor_events() {
    let f = Fixture::new();
    f.round(1, 100, 0, "clean", "ok\n");
    f.metric(90, json!({"disk_used_pct": 97.0, "mem_available_mb": 5000}));
    let rec = Recorder::default();
    let mut m = Monitor::new(f.config(), Box::new(rec.clone()));
    m.announce(30.0);

    let v = m.poll().unwrap();
    let names: Vec<&str> = v.fresh.iter().map(|a| a.detector).collect();
    assert_eq!(names, vec!["disk_critical"]);
    assert_eq!(rec.0.lock().unwrap().len(), 1, "stop requested once");

    // Same condition on the next polls: no new alert, no second stop.
    f.event(0, "round_start", json!({"round_num": 2, "phase": null}));
    assert!(m.poll().unwrap().fresh.is_empty());
    assert!(m.poll().unwrap().fresh.is_empty());
    assert_eq!(rec.0.lock().unwrap().len(), 1);

    // Clears, then comes back: a new episode.
    f.metric(0, json!({"disk_used_pct": 50.0, "mem_available_mb": 5000}));
    let v = m.poll().unwrap();
    assert_eq!(v.cleared.len(), 1, "{v:?}");
    f.metric(0, json!({"disk_used_pct": 98.0, "mem_available_mb": 5000}));
    let v = m.poll().unwrap();
    // (disk_growth fires too: 50 % -> 98 % within seconds.)
    assert!(
        v.fresh.iter().any(|a| a.detector == "disk_critical"),
        "{v:?}"
    );
    assert_eq!(rec.0.lock().unwrap().len(), 2);

    let ev = f.events_text();
    assert_eq!(count(&ev, "\"event\": \"monitor_started\""), 1);
    assert_eq!(
        count(
            &ev,
            "\"event\": \"monitor_alert_emitted\", \"detector\": \"disk_critical\""
        ),
        2
    );
    assert_eq!(count(&ev, "\"event\": \"monitor_auto_stop_triggered\""), 2);
    assert_eq!(count(&ev, "\"event\": \"monitor_alert_cleared\""), 1);
    assert!(ev.contains("\"detector\": \"disk_critical\", \"severity\": \"critical\""));
}

#[test]
fn auto_stop_is_gated_by_auto_stop_on() {
    let f = Fixture::new();
    f.metric(0, json!({"disk_used_pct": 97.0}));
    let mut cfg = f.config();
    cfg.monitor.auto_stop_on = vec![];
    let rec = Recorder::default();
    let mut m = Monitor::new(cfg, Box::new(rec.clone()));
    assert_eq!(m.poll().unwrap().fresh.len(), 1);
    assert!(rec.0.lock().unwrap().is_empty());
    assert!(!f.events_text().contains("monitor_auto_stop"));
}

#[test]
fn stale_supervisor_is_not_silenced_by_the_monitors_own_events() {
    let f = Fixture::new();
    f.round(1, 600, 0, "clean", "ok\n");
    let mut cfg = f.config();
    cfg.monitor.supervisor_stale_threshold_s = Some(60);
    let mut m = Monitor::new(cfg, Box::new(Recorder::default()));
    m.announce(1.0);
    let v = m.poll().unwrap();
    assert_eq!(v.fresh.len(), 1);
    assert_eq!(v.fresh[0].detector, "supervisor_stale");
    // The monitor wrote monitor_started + monitor_alert_emitted just now; the
    // episode is still active (ongoing), not cleared by those.
    let v = m.poll().unwrap();
    assert!(v.cleared.is_empty(), "own events must not clear it");
    assert_eq!(v.ongoing.len(), 1);
    // A real supervisor event clears it.
    f.event(0, "round_start", json!({"round_num": 2, "phase": null}));
    let v = m.poll().unwrap();
    assert_eq!(v.cleared.len(), 1);
}

#[test]
fn incremental_polls_see_appended_events_and_survive_a_torn_line() {
    let f = Fixture::new();
    let mut cfg = f.config();
    cfg.runtime.round_budget_s = 10;
    cfg.monitor.supervisor_stale_threshold_s = Some(0);
    let mut m = Monitor::new(cfg, Box::new(Recorder::default()));
    assert!(m.poll().unwrap().fresh.is_empty());
    // A writer mid-append: a torn line at the end is not consumed yet. (Last
    // month's file, so the monitor's own appends to this month's file do not
    // land in the middle of the simulated torn line.)
    let path = f.logs.join(format!(
        "events-{}.jsonl",
        agent_runner::timefmt::month(chrono::Utc::now() - chrono::Duration::days(40))
    ));
    let start = format!(
        "{{\"ts\": \"{}\", \"event\": \"round_start\", \"round_num\": 9}}\n",
        agent_runner::timefmt::iso_ms(chrono::Utc::now() - chrono::Duration::seconds(100))
    );
    std::fs::write(&path, start).unwrap();
    {
        use std::io::Write;
        let mut fh = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        fh.write_all(b"{\"ts\": \"2026-01-01T00:00:00.000Z\", \"event\": \"round_e")
            .unwrap();
    }
    let v = m.poll().unwrap();
    assert_eq!(v.fresh.len(), 1);
    assert_eq!(v.fresh[0].detector, "hung");
    {
        use std::io::Write;
        let mut fh = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        fh.write_all(b"nd\", \"round_num\": 9}\n").unwrap();
    }
    let v = m.poll().unwrap();
    assert_eq!(
        v.cleared.len(),
        1,
        "completed round_end line is read: {v:?}\n{}",
        f.events_text()
    );
}

#[test]
fn pid_file_stop_signals_the_recorded_serve_and_refuses_a_stale_token() {
    let f = Fixture::new();
    let cfg = f.config();
    // No pid file.
    assert!(PidFileStop.request_stop(&cfg).is_err());
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let token = agent_runner::sys::proc::create_time(pid).unwrap();
    // Stale token (pid reuse): refused, the process lives on.
    std::fs::write(
        f.logs.join("serve.pid"),
        format!("{{\"pid\": {pid}, \"create_time\": {}}}", token - 1000.0),
    )
    .unwrap();
    let e = PidFileStop.request_stop(&cfg).unwrap_err();
    assert!(e.contains("not running"), "{e}");
    assert!(agent_runner::sys::proc::alive(pid));
    // Right token: SIGTERM.
    std::fs::write(
        f.logs.join("serve.pid"),
        format!("{{\"pid\": {pid}, \"create_time\": {token}}}"),
    )
    .unwrap();
    let ok = PidFileStop.request_stop(&cfg).unwrap();
    assert!(ok.contains(&pid.to_string()));
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    // Legacy bare-integer pid file of a dead process: refused.
    std::fs::write(f.logs.join("serve.pid"), format!("{pid}")).unwrap();
    assert!(PidFileStop.request_stop(&cfg).is_err());
}
