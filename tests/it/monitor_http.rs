//! `monitor --mode http`: `/`, `/api/state` and `/metrics` over loopback, and a
//! non-loopback bind refused.

use crate::support::logdir;

use logdir::Fixture;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

#[test]
fn http_serves_page_state_and_metrics_on_loopback() {
    let f = Fixture::new();
    f.round(1, 300, 0, "clean", "did things\n");
    f.round(2, 200, 1, "error", "boom\n");
    f.round(3, 100, -15, "timeout", "slow\n");
    f.event(50, "round_start", json!({"round_num": 4, "phase": "build"}));
    f.metric(40, json!({"mem_total_mb": 8000, "mem_available_mb": 4321, "disk_used_pct": 96.5, "disk_free_gb": 3.2}));
    let cfg = Arc::new(f.config());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (Arc::clone(&cfg), Arc::clone(&stop));
    let server = std::thread::spawn(move || {
        agent_runner::witness::http::serve(c2, listener, &s2).unwrap();
    });

    let (head, page) = get(addr, "/");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains("text/html"));
    assert!(page.contains("<meta http-equiv=\"refresh\""));
    assert!(page.contains("agent-runner: proj"));
    assert!(page.contains("R4 phase build"), "current round shown");
    assert!(
        page.contains("<td>R3</td>") && page.contains("<td>timeout</td>"),
        "recent rounds with exit causes"
    );
    assert!(page.contains("[CRIT] disk_critical"), "alerts shown");
    assert!(page.contains("Disk 96.5% used"), "disk shown");
    assert!(page.contains("4321 MB available"), "memory shown");

    let (head, body) = get(addr, "/api/state");
    assert!(head.contains("application/json"), "{head}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["project"], json!("proj"));
    assert_eq!(v["current_round"]["round_num"], json!(4));
    assert_eq!(v["current_round"]["running"], json!(true));
    assert_eq!(v["recent_rounds"].as_array().unwrap().len(), 4);
    assert_eq!(v["recent_rounds"][1]["exit_cause"], json!("error"));
    let dets: Vec<&str> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["detector"].as_str().unwrap())
        .collect();
    assert!(dets.contains(&"disk_critical"), "{dets:?}");
    assert_eq!(v["defenses"].as_array().unwrap().len(), 15);

    let (head, metrics) = get(addr, "/metrics");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(
        metrics.contains("agent_runner_recent_rounds{exit_cause=\"timeout\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("agent_runner_recent_rounds{exit_cause=\"unfinished\"} 1"));
    assert!(metrics.contains("agent_runner_current_round 4"));
    assert!(metrics.contains("agent_runner_round_running 1"));
    assert!(metrics.contains("agent_runner_last_round_age_seconds "));
    assert!(
        metrics.contains("agent_runner_alert{detector=\"disk_critical\",severity=\"critical\"} 1")
    );
    assert!(metrics.contains("agent_runner_alert{detector=\"hung\",severity=\"none\"} 0"));
    assert!(metrics.contains("agent_runner_disk_used_percent 96.5"));
    assert!(
        metrics.contains("agent_runner_mem_available_bytes 4530896896"),
        "4321 MiB"
    );

    let (head, _) = get(addr, "/api/state?x=1");
    assert!(head.starts_with("HTTP/1.0 404"), "{head}");

    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
}

#[test]
fn non_loopback_bind_is_refused() {
    use agent_runner::witness::http::check_bind;
    assert!(check_bind("127.0.0.1").is_ok());
    assert!(check_bind("::1").is_ok());
    for bad in ["0.0.0.0", "192.168.1.10", "::", "example.com"] {
        assert!(check_bind(bad).is_err(), "{bad} must be refused");
    }
    let out = std::process::Command::new(crate::support::BIN)
        .args([
            "monitor", "--mode", "http", "--bind", "0.0.0.0", "--port", "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to serve on '0.0.0.0'"), "{err}");
}
