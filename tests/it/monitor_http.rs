//! `monitor --mode http`: `/`, `/api/state` and `/metrics` over loopback, and a
//! non-loopback bind refused; on both the local page and the fleet view, a
//! `Host:` that does not name loopback is refused (DNS rebinding), and slow
//! clients are cut at the request deadline instead of holding every slot.

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

/// Serve the fleet view (an empty table) through `serve_with`, as `monitor
/// --fleet --mode http` does; stopped when the guard drops.
struct FleetView {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    server: Option<std::thread::JoinHandle<()>>,
}

impl FleetView {
    fn start() -> FleetView {
        use agent_runner::fleet::{display, link::Table};
        use agent_runner::witness::http;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let table: Table = Default::default();
        let s2 = Arc::clone(&stop);
        let server = std::thread::spawn(move || {
            let h: http::Handler = Arc::new(move |m: &str, p: &str| display::handle(&table, m, p));
            http::serve_with(h, listener, &s2).unwrap();
        });
        FleetView {
            addr,
            stop,
            server: Some(server),
        }
    }
}

impl Drop for FleetView {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.server.take() {
            let _ = t.join();
        }
    }
}

/// Send `request` as is; the status code of the answer (0: refused or closed
/// without one).
fn status_of(addr: std::net::SocketAddr, request: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return 0;
    };
    let mut buf = Vec::new();
    let sent = s
        .set_read_timeout(Some(Duration::from_secs(30)))
        .and_then(|_| s.write_all(request.as_bytes()));
    if sent.is_err() {
        return 0;
    }
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn host_header_cases(addr: std::net::SocketAddr, path: &str) {
    let port = addr.port();
    let with_host = |h: &str| format!("GET {path} HTTP/1.1\r\nHost: {h}\r\n\r\n");
    for good in [
        "localhost".to_string(),
        "LocalHost".into(),
        format!("localhost:{port}"),
        "127.0.0.1".into(),
        format!("127.0.0.1:{port}"),
        "127.9.8.7:1".into(),
        "[::1]".into(),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(status_of(addr, &with_host(&good)), 200, "Host: {good}");
    }
    for bad in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        "localhost.evil.example".into(),
        "127.0.0.1.evil.example".into(),
        "10.0.0.1".into(),
        "0.0.0.0".into(),
        "[::2]:80".into(),
        "[::1".into(),
        "localhost:x".into(),
        "localhost:".into(),
        "".into(),
    ] {
        assert_eq!(status_of(addr, &with_host(&bad)), 421, "Host: {bad:?}");
    }
    // Two Host headers are ambiguous: refused, even if one is loopback.
    let two = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nhost: evil.example\r\n\r\n");
    assert_eq!(status_of(addr, &two), 400);
    // HTTP/1.1 requires a Host; HTTP/1.0 (no browser sends it without) may omit it.
    assert_eq!(
        status_of(addr, &format!("GET {path} HTTP/1.1\r\n\r\n")),
        400
    );
    assert_eq!(
        status_of(addr, &format!("GET {path} HTTP/1.0\r\n\r\n")),
        200
    );
    // The header name is case-insensitive, its value may have blanks around it.
    let lower = format!("GET {path} HTTP/1.1\r\nhOST:   evil.example  \r\n\r\n");
    assert_eq!(status_of(addr, &lower), 421);
}

#[test]
fn only_a_loopback_host_header_is_answered() {
    // The fleet view: `curl -H 'Host: evil.example' 127.0.0.1:PORT/api/fleet`.
    let v = FleetView::start();
    host_header_cases(v.addr, "/api/fleet");
    drop(v);

    // The local page.
    let f = Fixture::new();
    f.round(1, 300, 0, "clean", "did things\n");
    let cfg = Arc::new(f.config());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let server = std::thread::spawn(move || {
        agent_runner::witness::http::serve(cfg, listener, &s2).unwrap();
    });
    host_header_cases(addr, "/api/state");
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
}

#[test]
fn slow_clients_are_cut_at_the_deadline_and_cannot_lock_out_a_request() {
    use agent_runner::witness::http::{MAX_CONNECTIONS, REQUEST_DEADLINE};
    let v = FleetView::start();
    let t0 = std::time::Instant::now();
    // MAX_CONNECTIONS clients that each send one byte per second and never
    // finish their request (bounded: 40 bytes, or until the server hangs up).
    let slow: Vec<_> = (0..MAX_CONNECTIONS)
        .map(|_| {
            let addr = v.addr;
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                let req =
                    b"GET /api/fleet HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaa";
                for b in req.iter().take(40) {
                    if s.write_all(&[*b]).is_err() {
                        return Some(t0.elapsed());
                    }
                    let mut buf = [0u8; 256];
                    match s.read(&mut buf) {
                        // The server answered (408) or hung up: cut.
                        Ok(_) => return Some(t0.elapsed()),
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                            return Some(t0.elapsed())
                        }
                        Err(_) => {}
                    }
                    std::thread::sleep(Duration::from_millis(900));
                }
                None
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // A client that sends nothing at all is cut too.
    let mut idle = TcpStream::connect(v.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // A normal request gets through once the slow ones are cut: well before
    // they would have finished (40 s), within the deadline and a margin.
    let limit = REQUEST_DEADLINE + Duration::from_secs(4);
    let mut served = None;
    while t0.elapsed() < limit + Duration::from_secs(2) {
        let code = status_of(v.addr, "GET /api/fleet HTTP/1.1\r\nHost: localhost\r\n\r\n");
        if code == 200 {
            served = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let served =
        served.expect("a normal request was never served while slow clients held the slots");
    assert!(served < limit, "served only after {served:?}");
    for t in slow {
        let cut = t.join().unwrap();
        let cut = cut.expect("a slow client was never cut off");
        assert!(cut < limit, "a slow client was cut only after {cut:?}");
    }
    let mut buf = Vec::new();
    let _ = idle.read_to_end(&mut buf);
    assert!(
        t0.elapsed() < limit + Duration::from_secs(2),
        "an idle client held its connection for {:?}",
        t0.elapsed()
    );
}

#[test]
fn the_narrative_is_on_the_page_and_in_the_state() {
    let serve = |cfg: agent_runner::config::Config| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = Arc::clone(&stop);
        let server = std::thread::spawn(move || {
            agent_runner::witness::http::serve(Arc::new(cfg), listener, &s2).unwrap();
        });
        let (_, page) = get(addr, "/");
        let (_, body) = get(addr, "/api/state");
        stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(addr);
        server.join().unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        (page, v["narrative"].as_str().unwrap_or("?").to_string())
    };
    let f = Fixture::new();
    // none yet
    let (page, n) = serve(f.config());
    assert_eq!(n, "");
    assert!(page.contains("(no narrative file yet)"), "{page}");
    // the default place: <log_dir>/narrative.md, its last 50 lines
    let text: String = (1..=60).map(|i| format!("step {i} <done>\n")).collect();
    std::fs::write(f.logs.join("narrative.md"), &text).unwrap();
    let (page, n) = serve(f.config());
    let want: String = (11..=60).map(|i| format!("step {i} <done>\n")).collect();
    assert_eq!(n, want);
    assert!(page.contains("step 60 &lt;done&gt;"), "{page}");
    assert!(!page.contains("step 10 "), "{page}");
    // runtime.narrative_file elsewhere
    let other = f.work.join("NOTES.md");
    std::fs::write(&other, "from the notes file\n").unwrap();
    let mut cfg = f.config();
    cfg.runtime.narrative_file = Some(other);
    let (page, n) = serve(cfg);
    assert_eq!(n, "from the notes file\n");
    assert!(page.contains("from the notes file"), "{page}");
}
