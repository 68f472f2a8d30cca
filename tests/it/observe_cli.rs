//! The observation verbs through the binary, with a real config file:
//! `peek`, `events`, `monitor --once` (text and JSON, exit codes), and the
//! follow loops `watch`, `monitor --mode events|narrate` ending on SIGINT with 0.

use crate::support::logdir;
use crate::support::wait_exit;

use logdir::Fixture;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture() -> Fixture {
    let f = Fixture::new();
    f.round(1, 300, 0, "clean", "ok\n");
    f.round(2, 200, 1, "error", "boom\n");
    f.metric(4000, json!({"mem_total_mb": 8000, "mem_available_mb": 3000, "disk_used_pct": 41.5, "disk_free_gb": 99.0}));
    f.write_config("supervisor_stale_threshold_s = 0");
    f
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn peek_json_text_and_select_through_the_binary() {
    let f = fixture();
    let o = f.cli(&["peek", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["current_round"]["round_num"], json!(2));
    assert_eq!(v["recent_rounds"][0]["exit_cause"], json!("clean"));
    let o = f.cli(&["peek"]);
    let t = stdout(&o);
    assert!(t.contains("round     R2 took 1.5s, error (exit 1)"), "{t}");
    let o = f.cli(&["peek", "--select", "system.disk_used_pct"]);
    assert_eq!(stdout(&o).trim(), "41.5");
    let o = f.cli(&["peek", "--select", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("path segment 'nope' not found"));
}

#[test]
fn events_through_the_binary() {
    let f = fixture();
    let o = f.cli(&["events", "--kind", "agent_exit", "--window", "1"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1);
    assert!(
        out.starts_with("{\"ts\": \"") && out.contains("\"exit_code\": 1"),
        "{out}"
    );
}

#[test]
fn monitor_once_exit_codes_and_formats() {
    let f = fixture();
    let o = f.cli(&["monitor", "--once"]);
    assert_eq!(o.status.code(), Some(0), "healthy: {}", stdout(&o));
    assert_eq!(stdout(&o), "");
    f.metric(0, json!({"disk_used_pct": 96.0}));
    let o = f.cli(&["monitor", "--once"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o).trim(),
        "[CRIT] disk_critical \u{2014} disk_used_pct 96.0 >= 95.0 \u{2014} auto-stopping service"
    );
    let o = f.cli(&["monitor", "--once", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let line = stdout(&o);
    assert!(line.starts_with("{\"severity\": \"critical\", \"detector\": \"disk_critical\", \"message\": \"disk_used_pct 96.0 >= 95.0 \\u2014 auto-stopping service\", \"context\": {\"value\": 96.0, \"threshold\": 95.0, \"hint\": \"Stop and clean disk before resuming\"}, \"ts\": \""), "{line}");
    assert!(line
        .trim_end()
        .ends_with("\"auto_action\": \"stop_service\"}"));
    // --once writes nothing.
    assert!(!f.events_text().contains("monitor_"));
}

fn interrupt(child: &std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
}

fn spawn(f: &Fixture, args: &[&str]) -> std::process::Child {
    Command::new(crate::support::BIN)
        .args(args)
        .arg("--config")
        .arg(f.work.join("agent-runner.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Read lines until one contains `needle` (bounded).
fn read_until(r: &mut impl BufRead, needle: &str) -> String {
    let end = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while Instant::now() < end {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap() == 0 {
            break;
        }
        seen.push_str(&l);
        if l.contains(needle) {
            return l;
        }
    }
    panic!("'{needle}' not seen in:\n{seen}");
}

#[test]
fn monitor_events_and_narrate_follow_then_exit_0_on_sigint() {
    let f = fixture();
    let mut ev = spawn(&f, &["monitor", "--mode", "events"]);
    let mut narr = spawn(&f, &["monitor", "--mode", "narrate"]);
    let mut nr = BufReader::new(narr.stdout.take().unwrap());
    // Narrate starts with history.
    let first = read_until(&mut nr, "round_start");
    assert!(first.contains("round=1 phase=None"), "{first}");
    // Give the events follower time to seed at the end, then append.
    std::thread::sleep(Duration::from_millis(1500));
    f.event(0, "round_start", json!({"round_num": 3, "phase": "é"}));
    let mut er = BufReader::new(ev.stdout.take().unwrap());
    let line = read_until(&mut er, "round_start");
    assert!(
        line.contains("\"round_num\": 3, \"phase\": \"\\u00e9\""),
        "ASCII-escaped: {line}"
    );
    let l = read_until(&mut nr, "round=3");
    assert!(l.contains("phase=é"));
    interrupt(&ev);
    interrupt(&narr);
    assert_eq!(wait_exit(&mut ev, Duration::from_secs(30)), Some(0));
    assert_eq!(wait_exit(&mut narr, Duration::from_secs(30)), Some(0));
}

#[test]
fn watch_redraws_and_exits_0_on_sigint() {
    let f = fixture();
    let mut w = spawn(&f, &["watch", "--interval", "0.2"]);
    let mut out = w.stdout.take().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    interrupt(&w);
    assert_eq!(wait_exit(&mut w, Duration::from_secs(30)), Some(0));
    let mut s = String::new();
    out.read_to_string(&mut s).unwrap();
    assert!(s.matches("\x1b[2J\x1b[H").count() >= 2, "redrawn: {s:?}");
    assert!(s.contains("project   proj"));
}

#[test]
fn monitor_loop_auto_stops_a_pid_file_serve_once_then_exits_0_on_sigint() {
    let f = fixture();
    f.metric(0, json!({"disk_used_pct": 97.0}));
    let mut serve = Command::new("sleep").arg("120").spawn().unwrap();
    let pid = serve.id() as i32;
    let token = agent_runner::sys::proc::create_time(pid).unwrap();
    std::fs::write(
        f.logs.join("serve.pid"),
        format!("{{\"pid\": {pid}, \"create_time\": {token}}}"),
    )
    .unwrap();
    let mut m = Command::new(crate::support::BIN)
        .args(["monitor", "--interval", "0.3", "--config"])
        .arg(f.work.join("agent-runner.toml"))
        .env("HOME", f.tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(m.stdout.take().unwrap());
    let l = read_until(&mut r, "disk_critical");
    assert!(l.starts_with("[CRIT] disk_critical"), "{l}");
    // The serve got SIGTERM.
    use std::os::unix::process::ExitStatusExt;
    let st = serve.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGTERM));
    // Several more polls: same episode, no second alert line or stop.
    std::thread::sleep(Duration::from_millis(1500));
    interrupt(&m);
    assert_eq!(wait_exit(&mut m, Duration::from_secs(30)), Some(0));
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert!(
        !rest.contains("disk_critical"),
        "alerted once per episode: {rest}"
    );
    let ev = f.events_text();
    assert_eq!(ev.matches("\"event\": \"monitor_started\"").count(), 1);
    assert_eq!(
        ev.matches("\"event\": \"monitor_auto_stop_triggered\", \"detector\": \"disk_critical\"")
            .count(),
        1
    );
}

#[test]
fn events_tail_follows_new_matching_lines_and_exits_0_on_sigint() {
    let f = fixture();
    let mut t = spawn(&f, &["events", "--kind", "round_end", "--tail"]);
    std::thread::sleep(Duration::from_millis(1500));
    f.event(0, "round_start", json!({"round_num": 3, "phase": null}));
    f.event(0, "round_end", json!({"round_num": 3}));
    let mut r = BufReader::new(t.stdout.take().unwrap());
    let l = read_until(&mut r, "round_end");
    assert!(
        l.contains("\"round_num\": 3"),
        "history skipped, new line printed: {l}"
    );
    interrupt(&t);
    assert_eq!(wait_exit(&mut t, Duration::from_secs(30)), Some(0));
}

/// The lines a child prints, read on a thread (so a test can wait bounded).
fn lines_of(out: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn expect_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let end = Instant::now() + Duration::from_secs(20);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(needle) => return l,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("'{needle}' not printed within 20 s");
}

#[test]
fn events_tail_follows_a_log_dir_created_after_it_started_and_a_new_month_file() {
    let f = Fixture::new();
    std::fs::remove_dir_all(&f.logs).unwrap();
    f.write_config("");
    let mut t = spawn(&f, &["events", "--kind", "round_end", "--tail"]);
    let rx = lines_of(t.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(700));
    std::fs::create_dir_all(&f.logs).unwrap();
    let line = |n: u64| {
        format!("{{\"ts\": \"2026-11-25T10:00:0{n}.000Z\", \"event\": \"round_end\", \"round_num\": {n}}}\n")
    };
    std::fs::write(f.logs.join("events-2026-11.jsonl"), line(7)).unwrap();
    expect_line(&rx, "\"round_num\": 7");
    // appended to the same file, then a later month's file appears
    std::thread::sleep(Duration::from_millis(300));
    let mut w = std::fs::OpenOptions::new()
        .append(true)
        .open(f.logs.join("events-2026-11.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut w, line(8).as_bytes()).unwrap();
    expect_line(&rx, "\"round_num\": 8");
    std::fs::write(f.logs.join("events-2026-12.jsonl"), line(9)).unwrap();
    expect_line(&rx, "\"round_num\": 9");
    interrupt(&t);
    assert_eq!(wait_exit(&mut t, Duration::from_secs(30)), Some(0));
}

#[test]
fn monitor_http_through_the_binary_serves_and_exits_0_on_sigint() {
    let f = fixture();
    let mut h = Command::new(crate::support::BIN)
        .args(["monitor", "--mode", "http", "--port", "0", "--config"])
        .arg(f.work.join("agent-runner.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut er = BufReader::new(h.stderr.take().unwrap());
    let l = read_until(&mut er, "serving http://");
    let addr = l
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    use std::io::Write;
    s.write_all(b"GET /api/state HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.0 200 OK"), "{body}");
    assert!(body.contains("\"project\": \"proj\""), "{body}");
    interrupt(&h);
    assert_eq!(wait_exit(&mut h, Duration::from_secs(30)), Some(0));
}
