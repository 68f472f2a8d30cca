//! Notifications (`--notify-command`, `--webhook`, `[[notify]]`): one
//! message when an episode is raised, none for repeat polls, one when it
//! clears; a dead, a 500-answering and a slow receiver retried and recorded
//! (`notify_failed`, a stderr line without the URL's secrets) while
//! detection goes on; a burst of 50 alerts delivered as a handful of
//! messages; from the fleet witness, Alertmanager's `/api/v2/alerts` with
//! `endsAt` on the clear and a failing sink shown on the host's row. Every
//! receiver is on 127.0.0.1.

use crate::support::logdir::Fixture;
use crate::support::receiver::{dead_port, Answer, Receiver};
use crate::support::{sshd, wait_until, BIN};
use agent_runner::detect::{Alert, AutoAction, Severity};
use agent_runner::witness::notify::{Format, Notifier, Pace, Quiet, SinkSpec};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A command sink: a script appending each stdin (one JSON object) as one
/// line to `out`.
pub(crate) fn command_sink(dir: &Path, out: &Path) -> PathBuf {
    let p = dir.join("notify.sh");
    crate::support::write_exec(
        &p,
        format!("#!/bin/sh\n{{ cat; echo; }} >> '{}'\n", out.display()),
    );
    p
}

pub(crate) fn lines_of(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A running binary whose stderr is collected; killed on drop.
pub(crate) struct Running {
    child: Child,
    err: Arc<Mutex<String>>,
}

impl Running {
    pub(crate) fn start(mut c: Command) -> Running {
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut e = child.stderr.take().unwrap();
        let err = Arc::new(Mutex::new(String::new()));
        let e2 = Arc::clone(&err);
        std::thread::spawn(move || {
            let mut b = [0u8; 4096];
            while let Ok(n) = e.read(&mut b) {
                if n == 0 {
                    break;
                }
                e2.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&b[..n]));
            }
        });
        Running { child, err }
    }
    pub(crate) fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `monitor --interval 0.2 EXTRA…` on the fixture's project (no auto-stop).
pub(crate) fn local_monitor_cmd(f: &Fixture, extra: &[&str]) -> Command {
    let cfg = f.write_config("auto_stop_on = []");
    let mut c = Command::new(BIN);
    c.arg("--config")
        .arg(&cfg)
        .env("HOME", f.tmp.path())
        .args(["monitor", "--interval", "0.2"])
        .args(extra);
    c
}

fn local_monitor(f: &Fixture, extra: &[&str]) -> Running {
    Running::start(local_monitor_cmd(f, extra))
}

pub(crate) fn kinds(f: &Fixture, kind: &str) -> Vec<Value> {
    f.events_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == kind)
        .collect()
}

#[test]
fn raise_sends_one_message_repeat_polls_none_clear_one() {
    let f = Fixture::new();
    f.metric(5, json!({"disk_used_pct": 97.0, "mem_available_mb": 5000}));
    let rx = Receiver::start(Answer::Status(200));
    let out = f.tmp.path().join("got.jsonl");
    let script = command_sink(f.tmp.path(), &out);
    let m = local_monitor(
        &f,
        &[
            "--notify-command",
            script.to_str().unwrap(),
            "--webhook",
            &rx.url("/hook"),
        ],
    );
    let ok = wait_until(Duration::from_secs(15), || {
        rx.requests().len() == 1 && lines_of(&out).len() == 1
    });
    assert!(ok, "no raise message: {:?}\n{}", rx.requests(), m.stderr());
    let req = &rx.requests()[0];
    assert_eq!(req.path, "/hook");
    assert_eq!(req.header("Content-Type"), Some("application/json"));
    let v = req.json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["host", "detector", "severity", "state", "message", "ts", "project"]
    );
    assert_eq!(v["host"], Value::Null);
    assert_eq!(v["detector"], "disk_critical");
    assert_eq!(v["severity"], "critical");
    assert_eq!(v["state"], "raised");
    assert_eq!(v["project"], "proj");
    assert!(
        v["message"].as_str().unwrap().contains("disk_used_pct"),
        "{v}"
    );
    assert_eq!(lines_of(&out)[0], v, "the command got the same object");

    // Many polls (every 0.2 s) with the condition still there: nothing new.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rx.requests().len(), 1, "a repeat poll sent a message");
    assert_eq!(lines_of(&out).len(), 1);
    assert_eq!(kinds(&f, "monitor_alert_emitted").len(), 1);

    // Cleared: one message each (paced: at least 10 s after the raise).
    f.metric(0, json!({"disk_used_pct": 50.0, "mem_available_mb": 5000}));
    let ok = wait_until(Duration::from_secs(25), || {
        rx.requests().len() == 2 && lines_of(&out).len() == 2
    });
    assert!(ok, "no clear message: {:?}\n{}", rx.requests(), m.stderr());
    let v = rx.requests()[1].json();
    assert_eq!(
        (v["detector"].as_str(), v["state"].as_str()),
        (Some("disk_critical"), Some("cleared"))
    );
    assert_eq!(v["severity"], "critical");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rx.requests().len(), 2);
    assert_eq!(lines_of(&out).len(), 2);
    assert!(kinds(&f, "notify_failed").is_empty(), "{}", m.stderr());
}

#[test]
fn dead_500_and_slow_receivers_are_retried_recorded_and_do_not_hold_detection() {
    let f = Fixture::new();
    f.metric(5, json!({"disk_used_pct": 97.0, "mem_available_mb": 5000}));
    let five = Receiver::start(Answer::Status(500));
    let slow = Receiver::start(Answer::Hang(Duration::from_secs(60)));
    let dead = format!(
        "http://bob:hunter2@127.0.0.1:{}/hook?token=SECRET",
        dead_port()
    );
    let out = f.tmp.path().join("got.jsonl");
    let script = command_sink(f.tmp.path(), &out);
    let t0 = Instant::now();
    let m = local_monitor(
        &f,
        &[
            "--webhook",
            &dead,
            "--webhook",
            &five.url("/x?token=SECRET"),
            "--webhook",
            &slow.url("/y?token=SECRET"),
            "--notify-command",
            script.to_str().unwrap(),
        ],
    );
    // Detection is not held: the alert is recorded at once, and a clear
    // while the slow receiver still holds its connection is recorded too.
    assert!(wait_until(Duration::from_secs(5), || kinds(
        &f,
        "monitor_alert_emitted"
    )
    .len()
        == 1));
    assert!(wait_until(Duration::from_secs(10), || slow
        .requests()
        .len()
        == 1));
    f.metric(0, json!({"disk_used_pct": 50.0, "mem_available_mb": 5000}));
    let cleared_by = Instant::now() + Duration::from_secs(3);
    assert!(
        wait_until(Duration::from_secs(3), || kinds(
            &f,
            "monitor_alert_cleared"
        )
        .len()
            == 1),
        "the clear was not recorded while a sink hangs\n{}",
        m.stderr()
    );
    assert!(Instant::now() <= cleared_by);
    // The working command sink is not held up by the others.
    assert!(
        wait_until(Duration::from_secs(20), || lines_of(&out).len() == 2),
        "{}",
        m.stderr()
    );

    // The 500 receiver: 4 attempts for the raise (1 + 3 retries, 1, 2, 4 s apart).
    assert!(
        wait_until(Duration::from_secs(20), || {
            kinds(&f, "notify_failed")
                .iter()
                .filter(|e| {
                    e["sink"]
                        .as_str()
                        .unwrap_or("")
                        .contains(&five.addr.port().to_string())
                })
                .count()
                >= 1
        }),
        "{:?}\n{}",
        kinds(&f, "notify_failed"),
        m.stderr()
    );
    let first_four: Vec<Instant> = five.requests().iter().take(4).map(|r| r.at).collect();
    assert_eq!(first_four.len(), 4, "{:?}", five.requests());
    let gaps: Vec<f64> = first_four
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    for (g, want) in gaps.iter().zip([1.0, 2.0, 4.0]) {
        assert!(*g >= want * 0.9 && *g < want + 2.0, "back-off {gaps:?}");
    }
    let failed = kinds(&f, "notify_failed");
    let of = |port: u16| {
        failed
            .iter()
            .find(|e| e["sink"] == format!("webhook http://127.0.0.1:{port}/…"))
            .cloned()
            .unwrap_or_else(|| panic!("no notify_failed for port {port}: {failed:?}"))
    };
    let e500 = of(five.addr.port());
    assert_eq!(e500["attempts"], 4);
    assert_eq!(e500["format"], "json");
    assert_eq!(e500["notifications"], 1);
    assert_eq!(e500["host"], Value::Null);
    assert_eq!(e500["detectors"], json!(["disk_critical"]));
    assert!(e500["error"].as_str().unwrap().contains("500"), "{e500}");
    let dead_port_n: u16 = dead
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let edead = of(dead_port_n);
    assert_eq!(edead["attempts"], 4);
    // A line on stderr; no credentials or query tokens anywhere.
    let err = m.stderr();
    assert!(
        err.contains(&format!("agent-runner: notification not delivered by webhook http://127.0.0.1:{}/… after 4 attempt(s)", five.addr.port())),
        "{err}"
    );
    let events = f.events_text();
    for secret in ["SECRET", "hunter2", "bob"] {
        assert!(!err.contains(secret), "{secret} on stderr: {err}");
        assert!(!events.contains(secret), "{secret} in the events: {events}");
    }
    assert!(t0.elapsed() < Duration::from_secs(60));
}

fn alert(det: &'static str, sev: Severity) -> Alert {
    Alert {
        severity: sev,
        detector: det,
        message: format!("{det} is on"),
        context: Default::default(),
        ts: agent_runner::timefmt::now_iso_ms(),
        auto_action: AutoAction::None,
    }
}

#[test]
fn a_burst_of_50_alerts_is_a_handful_of_messages() {
    let d = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Answer::Status(200));
    let out = d.path().join("got.jsonl");
    let script = command_sink(d.path(), &out);
    let sinks = vec![
        SinkSpec::webhook(&rx.url("/hook"), Format::Json).unwrap(),
        SinkSpec::webhook(&rx.url("/slack"), Format::Slack).unwrap(),
        SinkSpec::command(vec![script.display().to_string()]).unwrap(),
    ];
    let mut n = Notifier::start(sinks, Pace::default(), Arc::new(Quiet));
    let t0 = Instant::now();
    for i in 0..50 {
        n.raised(
            Some(&format!("pi-{i:02}")),
            Some("site"),
            &alert("hung", Severity::Warning),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let items = |rs: &[Value]| -> u64 { rs.iter().map(|v| v["count"].as_u64().unwrap_or(1)).sum() };
    let hooks = || -> Vec<Value> {
        rx.requests()
            .iter()
            .filter(|r| r.path == "/hook")
            .map(|r| r.json())
            .collect()
    };
    let slacks = || rx.requests().iter().filter(|r| r.path == "/slack").count();
    // each sink has its own worker: wait for all three, not two of them
    assert!(
        wait_until(Duration::from_secs(30), || items(&hooks()) == 50
            && items(&lines_of(&out)) == 50
            && slacks() > 0),
        "{:?} / {:?} / {} slack",
        hooks(),
        lines_of(&out),
        slacks()
    );
    let h = hooks();
    assert!(
        h.len() <= 3,
        "{} messages for a burst of 50: {h:?}",
        h.len()
    );
    assert!(lines_of(&out).len() <= 3);
    let slack = slacks();
    assert!((1..=3).contains(&slack), "{slack}");
    let digest = h
        .iter()
        .find(|v| v["detector"] == "digest")
        .expect("a digest");
    assert_eq!(digest["host"], Value::Null, "mixed hosts");
    assert_eq!(digest["project"], "site");
    assert_eq!(digest["items"][0]["state"], "raised");
    assert!(
        digest["message"].as_str().unwrap().contains("pi-"),
        "{digest}"
    );
    // Clearing all 50 is one more digest.
    for i in 0..50 {
        n.cleared(Some(&format!("pi-{i:02}")), Some("site"), "hung");
    }
    assert!(
        wait_until(Duration::from_secs(30), || items(&hooks()) == 100),
        "{:?}",
        hooks()
    );
    assert!(hooks().len() <= h.len() + 2, "{:?}", hooks());
    // A clear for an episode never raised is not sent.
    n.cleared(Some("nobody"), None, "hung");
    n.shutdown(Duration::from_secs(5));
    assert_eq!(items(&hooks()), 100);
    assert!(t0.elapsed() < Duration::from_secs(60));
}

/// `min_severity`: a sink is not told about less severe alerts, nor about
/// their clears; another sink on the same notifier is.
#[test]
fn min_severity_keeps_less_severe_alerts_and_their_clears_from_a_sink() {
    let rx = Receiver::start(Answer::Status(200));
    let all = SinkSpec::webhook(&rx.url("/all"), Format::Json).unwrap();
    let mut crit = SinkSpec::webhook(&rx.url("/crit"), Format::Json).unwrap();
    crit.min_severity = Severity::Critical;
    let pace = Pace {
        coalesce: Duration::from_millis(50),
        gap: Duration::from_millis(100),
        ..Pace::default()
    };
    let mut n = Notifier::start(vec![all, crit], pace, Arc::new(Quiet));
    n.raised(Some("pi"), Some("p"), &alert("hung", Severity::Warning));
    n.raised(
        Some("pi"),
        Some("p"),
        &alert("disk_critical", Severity::Critical),
    );
    n.cleared(Some("pi"), Some("p"), "hung");
    n.cleared(Some("pi"), Some("p"), "disk_critical");
    // (detector, state) of every notification a path got, digests opened.
    let got = |path: &str| -> Vec<(String, String)> {
        let mut v = Vec::new();
        for r in rx.requests().iter().filter(|r| r.path == path) {
            let j = r.json();
            let items = match j["items"].as_array() {
                Some(items) => items.clone(),
                None => vec![j],
            };
            for i in items {
                v.push((
                    i["detector"].as_str().unwrap_or("").to_string(),
                    i["state"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
        v.sort();
        v
    };
    assert!(
        wait_until(Duration::from_secs(10), || got("/all").len() == 4),
        "{:?}",
        rx.requests()
    );
    n.shutdown(Duration::from_secs(5));
    let pair = |d: &str, s: &str| (d.to_string(), s.to_string());
    assert_eq!(
        got("/crit"),
        vec![
            pair("disk_critical", "cleared"),
            pair("disk_critical", "raised")
        ]
    );
    assert_eq!(
        got("/all"),
        vec![
            pair("disk_critical", "cleared"),
            pair("disk_critical", "raised"),
            pair("hung", "cleared"),
            pair("hung", "raised")
        ]
    );
}

pub(crate) fn write_remote_event(logs: &Path, kind: &str, payload: Value, ago_s: i64) {
    use std::io::Write;
    let ts = chrono::Utc::now() - chrono::Duration::seconds(ago_s);
    let mut m = serde_json::Map::new();
    m.insert("ts".into(), json!(agent_runner::timefmt::iso_ms(ts)));
    m.insert("event".into(), json!(kind));
    if let Value::Object(p) = payload {
        m.extend(p);
    }
    let line = agent_runner::state::pyjson::to_line(&Value::Object(m)) + "\n";
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("events-{}.jsonl", agent_runner::timefmt::month(ts))))
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::Write;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        code,
        buf.split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
    )
}

#[test]
fn the_fleet_witness_notifies_alertmanager_and_shows_a_failing_sink_on_the_row() {
    let h = sshd::Harness::new();
    h.put_remote_binary(&[]);
    let r = crate::fleet::Remote::new(
        &h,
        "p",
        "round_budget_s = 10",
        "supervisor_stale_threshold_s = 0",
    );
    write_remote_event(
        &r.logs,
        "round_start",
        json!({"round_num": 1, "phase": null}),
        100,
    );
    let am = Receiver::start(Answer::Status(200));
    let out = h.root.path().join("got.jsonl");
    let script = command_sink(h.root.path(), &out);
    let hosts = h.root.path().join("hosts.toml");
    std::fs::write(
        &hosts,
        format!(
            "[[host]]\nalias = \"pi\"\nname = \"kitchen\"\nconfig = \"{}\"\n\n[[notify]]\nwebhook = \"{}\"\nformat = \"alertmanager\"\n\n[[notify]]\nwebhook = \"http://127.0.0.1:{}/?token=SECRET\"\n\n[[notify]]\ncommand = [\"{}\"]\nmin_severity = \"warning\"\n",
            r.config.display(),
            am.url(""),
            dead_port(),
            script.display()
        ),
    )
    .unwrap();
    let port = sshd::free_port();
    let mut c = crate::fleet::monitor(
        &h,
        &[
            "--fleet",
            hosts.to_str().unwrap(),
            "--mode",
            "http",
            "--port",
            &port.to_string(),
        ],
    );
    c.env_remove("RUST_LOG");
    let m = Running::start(c);
    assert!(
        wait_until(Duration::from_secs(30), || !am.requests().is_empty()),
        "no post to Alertmanager\n{}",
        m.stderr()
    );
    let req = &am.requests()[0];
    assert_eq!(req.path, "/api/v2/alerts");
    let v = req.json();
    let a = &v[0];
    assert_eq!(a["labels"]["host"], "kitchen");
    assert_eq!(a["labels"]["detector"], "hung");
    assert_eq!(a["labels"]["severity"], "warning");
    assert_eq!(a["labels"]["project"], "remote-p");
    let ends = agent_runner::timefmt::parse_ts(a["endsAt"].as_str().unwrap()).unwrap();
    assert!(ends > chrono::Utc::now(), "a firing alert ends ahead: {a}");
    // The command sink got the plain object, with the host's display name.
    assert!(wait_until(Duration::from_secs(10), || lines_of(&out).len() == 1));
    let c0 = &lines_of(&out)[0];
    assert_eq!(
        (c0["host"].as_str(), c0["state"].as_str()),
        (Some("kitchen"), Some("raised"))
    );
    // The dead sink's failure is on the host's row and on stderr.
    let mut row = Value::Null;
    let ok = wait_until(Duration::from_secs(30), || {
        let (code, body) = http_get(port, "/api/fleet");
        row = serde_json::from_str::<Value>(&body)
            .map(|v| v[0].clone())
            .unwrap_or(Value::Null);
        code == 200 && row["notify_error"].is_string()
    });
    assert!(ok, "{row}\n{}", m.stderr());
    let ne = row["notify_error"].as_str().unwrap();
    assert!(
        ne.starts_with("webhook http://127.0.0.1:") && ne.contains("/…"),
        "{ne}"
    );
    assert!(wait_until(Duration::from_secs(5), || m
        .stderr()
        .contains("notification not delivered by webhook")));
    // The round ends: the episode clears, Alertmanager gets endsAt now.
    write_remote_event(&r.logs, "round_end", json!({"round_num": 1}), 0);
    let ok = wait_until(Duration::from_secs(30), || {
        am.requests().iter().any(|q| {
            let v = q.json();
            v[0]["labels"]["detector"] == "hung"
                && agent_runner::timefmt::parse_ts(v[0]["endsAt"].as_str().unwrap_or(""))
                    .is_some_and(|t| t <= chrono::Utc::now())
        })
    });
    assert!(ok, "no resolve: {:?}\n{}", am.requests(), m.stderr());
    assert!(wait_until(Duration::from_secs(20), || lines_of(&out).len() == 2));
    assert_eq!(lines_of(&out)[1]["state"], "cleared");
    let err = m.stderr();
    assert!(!err.contains("SECRET"), "{err}");
}
