//! `/metrics` of both HTTP modes passes `promtool check metrics` (the
//! Prometheus exposition format and its naming lint): the local page over a
//! project log_dir with metrics samples, and the fleet page over a table with
//! hosts in several states. promtool is required (Debian package
//! `prometheus`, installed by `.ci/run`): without it these tests fail.

use crate::support::logdir::Fixture;
use agent_runner::fleet::link::{Row, Table};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `promtool check metrics < body`: exit 0 and nothing printed, or a panic
/// with promtool's complaints and the body.
fn assert_promtool_clean(what: &str, body: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!(
            "promtool not runnable ({e}): install it (Debian/Ubuntu: apt-get install prometheus; .ci/run does this) — this test checks /metrics with it and does not skip"
        ),
    };
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(body.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics on the {what} /metrics: {}\n{said}\n--- body ---\n{body}",
        out.status
    );
}

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

#[test]
fn local_http_metrics_pass_promtool() {
    let f = Fixture::new();
    f.round(1, 300, 0, "clean", "did things\n");
    f.round(2, 200, 1, "error", "boom\n");
    f.round(3, 100, -15, "timeout", "slow\n");
    f.event(50, "round_start", json!({"round_num": 4, "phase": "build"}));
    f.metric(
        100,
        json!({"mem_total_mb": 8000, "mem_available_mb": 5000, "disk_used_pct": 90.1, "disk_free_gb": 4.0}),
    );
    f.metric(
        40,
        json!({"mem_total_mb": 8000, "mem_available_mb": 4321, "disk_used_pct": 96.5, "disk_free_gb": 3.2}),
    );
    let cfg = Arc::new(f.config());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (Arc::clone(&cfg), Arc::clone(&stop));
    let server = std::thread::spawn(move || {
        agent_runner::witness::http::serve(c2, listener, &s2).unwrap();
    });
    let body = get(addr, "/metrics");
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();

    assert!(body.contains("agent_runner_alert{"), "{body}");
    assert_promtool_clean("local", &body);
}

#[test]
fn local_http_metrics_of_an_empty_log_dir_pass_promtool() {
    let f = Fixture::new();
    let cfg = f.config();
    let r = agent_runner::witness::http::handle(&cfg, "GET", "/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_promtool_clean("local (empty log_dir)", &r.body);
}

fn fleet_table() -> Table {
    let mut m = BTreeMap::new();
    let mut add = |r: Row| {
        m.insert(r.name.clone(), r);
    };
    add(Row {
        name: "pi".into(),
        alias: "pi".into(),
        state: "alert".into(),
        round: Some(7),
        round_running: Some(true),
        phase: Some("build".into()),
        last_event_age_s: Some(12.4),
        alerts: vec![
            json!({"detector": "hung", "severity": "warning", "message": "Round 7 <stuck>"}),
            json!({"detector": "disk_critical", "severity": "critical", "message": "disk"}),
        ],
        events_received: 3,
        ..Default::default()
    });
    add(Row {
        name: "ok-host".into(),
        alias: "ok-host".into(),
        state: "ok".into(),
        round: Some(120),
        round_running: Some(false),
        last_event_age_s: Some(0.25),
        events_received: 1_000_000,
        ..Default::default()
    });
    add(Row {
        name: "b\"x\\y\nz".into(),
        state: "unreachable".into(),
        error: Some("connection refused".into()),
        alerts: vec![json!({"detector": "host_unreachable", "severity": "critical"})],
        ..Default::default()
    });
    add(Row {
        name: "new".into(),
        state: "connecting".into(),
        ..Default::default()
    });
    add(Row {
        name: "old".into(),
        state: "no-agent-runner".into(),
        error: Some("agent-runner not found".into()),
        ..Default::default()
    });
    add(Row {
        name: "flaky".into(),
        state: "blip".into(),
        round: Some(3),
        last_event_age_s: Some(95.0),
        events_received: 40,
        ..Default::default()
    });
    Arc::new(Mutex::new(m))
}

#[test]
fn fleet_http_metrics_pass_promtool() {
    let t = fleet_table();
    let r = agent_runner::fleet::display::handle(&t, "GET", "/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        r.content_type
    );
    assert!(r.body.contains("host=\"pi\""), "{}", r.body);
    assert_promtool_clean("fleet", &r.body);
}

#[test]
fn fleet_http_metrics_of_an_empty_table_pass_promtool() {
    let t: Table = Arc::new(Mutex::new(BTreeMap::new()));
    let r = agent_runner::fleet::display::handle(&t, "GET", "/metrics");
    assert_eq!(r.status, 200);
    assert_promtool_clean("fleet (no hosts)", &r.body);
}
