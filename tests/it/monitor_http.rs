//! `monitor --mode http`: `/`, `/api/state` and `/metrics` over loopback, and a
//! non-loopback bind refused; on both the local page and the fleet view, a
//! `Host:` that does not name loopback is refused (DNS rebinding), and slow
//! clients are cut at the request deadline instead of holding every slot.
//! The live part over SSE (`/live/`): pushed when the log changes, in
//! stream slots of its own, and a stream whose client stops reading is
//! dropped without holding anything.

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
    assert!(
        !page.contains("http-equiv"),
        "no meta refresh: updates come over SSE"
    );
    assert!(page.contains("data-live=\"/live/\"") && page.contains("new EventSource(src)"));
    assert!(page.len() < 150 * 1024, "{} bytes", page.len());
    assert!(page.contains("<h1>proj "), "project named");
    assert!(
        page.contains("R4 phase build \u{b7} running"),
        "current round shown"
    );
    assert!(page.contains("<p class=\"current running\">"), "{page}");
    assert!(
        page.contains("of 30m budget") && page.contains("data-budget=\"1800\""),
        "elapsed against the budget: {page}"
    );
    assert_eq!(
        page.matches("<rect class=\"bar ").count(),
        4,
        "one bar per round"
    );
    assert!(
        page.contains("<rect class=\"bar b-timeout\" data-round=\"3\"")
            && page.contains("<rect class=\"bar b-error\" data-round=\"2\"")
            && page.contains("<rect class=\"bar b-running\" data-round=\"4\""),
        "bars coloured by exit class"
    );
    assert!(page.contains("[CRIT] disk_critical"), "alerts shown");
    assert!(page.contains("96.5% used, 3.2 GB free"), "disk shown");
    assert!(page.contains("4321 MB available"), "memory shown");
    assert!(page.contains("disk used <b>96.5 %</b>"), "disk sparkline");
    assert!(
        page.contains("<table class=\"events\">") && page.contains("<td>agent_exit</td>"),
        "events as a table"
    );

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

/// Read one SSE message (up to its blank line) within `within`.
fn next_message(s: &mut TcpStream, buf: &mut Vec<u8>, within: Duration) -> Option<String> {
    let end = std::time::Instant::now() + within;
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\n\n") {
            let m = String::from_utf8_lossy(&buf[..i]).into_owned();
            buf.drain(..i + 2);
            if m.starts_with("event:") {
                return Some(m);
            }
            continue;
        }
        if std::time::Instant::now() >= end {
            return None;
        }
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut b = [0u8; 8192];
        match s.read(&mut b) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&b[..n]),
            Err(_) => {}
        }
    }
}

fn open_stream(addr: std::net::SocketAddr, path: &str) -> (TcpStream, Vec<u8>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let head = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let h = String::from_utf8_lossy(&buf[..i]).into_owned();
            buf.drain(..i + 4);
            break h;
        }
        assert!(std::time::Instant::now() < end, "no answer to {path}");
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut b = [0u8; 4096];
        match s.read(&mut b) {
            Ok(0) => break String::from_utf8_lossy(&buf).into_owned(),
            Ok(n) => buf.extend_from_slice(&b[..n]),
            Err(_) => {}
        }
    };
    (s, buf, head)
}

#[test]
fn the_live_part_is_pushed_over_sse_in_slots_of_its_own() {
    use agent_runner::witness::http::MAX_STREAMS;
    let f = Fixture::new();
    f.round(1, 300, 0, "clean", "ok\n");
    let cfg = Arc::new(f.config());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let server = std::thread::spawn(move || {
        agent_runner::witness::http::serve(cfg, listener, &s2).unwrap();
    });
    let (mut s, mut buf, head) = open_stream(addr, "/live/");
    assert!(
        head.starts_with("HTTP/1.0 200") && head.contains("text/event-stream"),
        "{head}"
    );
    let first = next_message(&mut s, &mut buf, Duration::from_secs(10)).expect("a first message");
    assert!(first.starts_with("event: update\ndata: "), "{first}");
    assert!(first.contains("R1") && !first.contains("R2 "), "{first}");
    // An event is appended: the next message has it (the local view reads
    // the log_dir every 2 s).
    f.event(0, "round_start", json!({"round_num": 2, "phase": "review"}));
    let next = next_message(&mut s, &mut buf, Duration::from_secs(10)).expect("an update");
    assert!(next.contains("R2 phase review"), "{next}");
    assert!(
        next.lines()
            .all(|l| l.starts_with("data: ") || l.starts_with("event: ")),
        "{next}"
    );

    // Streams have slots of their own: with all of them taken, one more is
    // 503, and plain requests are still served.
    let mut held = vec![s];
    for _ in 1..MAX_STREAMS {
        let (s, _, head) = open_stream(addr, "/live/");
        assert!(head.starts_with("HTTP/1.0 200"), "{head}");
        held.push(s);
    }
    let (_, _, head) = open_stream(addr, "/live/");
    assert!(head.starts_with("HTTP/1.0 503"), "{head}");
    let (head, _) = get(addr, "/api/state");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    let (_, _, head) = open_stream(addr, "/live/nope");
    assert!(
        head.starts_with("HTTP/1.0 503") || head.starts_with("HTTP/1.0 404"),
        "{head}"
    );
    // Closing streams frees their slots at once, not at their next write
    // (nothing changes here: that would be the 15 s heartbeat).
    drop(held);
    assert!(
        crate::support::wait_until(Duration::from_secs(2), || {
            open_stream(addr, "/live/").2.starts_with("HTTP/1.0 200")
        }),
        "closed streams kept their slots"
    );
    let (_, _, head) = open_stream(addr, "/live/nope");
    assert!(head.starts_with("HTTP/1.0 404"), "{head}");
    // The Host check applies to streams too.
    assert_eq!(
        status_of(addr, "GET /live/ HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
        421
    );
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
}

#[test]
fn a_stream_whose_client_stops_reading_is_dropped_and_holds_nothing() {
    use agent_runner::witness::http::{self, MAX_STREAMS, RESPONSE_DEADLINE};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    // A live part of 256 KiB that changes on every 50 ms tick.
    let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let server = std::thread::spawn(move || {
        let site = http::Site {
            handler: Arc::new(|_: &str, _: &str| http::Response {
                status: 200,
                content_type: "text/plain",
                body: "ok\n".into(),
            }),
            live: Some(Arc::new(move |_: &str| {
                let i = n.fetch_add(1, Ordering::SeqCst);
                Some(format!("{i}{}", "x".repeat(256 * 1024)))
            })),
            tick: Duration::from_millis(50),
        };
        http::serve_site(site, listener, &s2).unwrap();
    });
    let t0 = std::time::Instant::now();
    // Every stream slot taken by clients that never read.
    let stuck: Vec<TcpStream> = (0..MAX_STREAMS)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET /live/ HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Meanwhile plain requests are answered at once.
    let t1 = std::time::Instant::now();
    assert_eq!(
        status_of(addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        200
    );
    assert!(t1.elapsed() < Duration::from_secs(2));
    // Once their socket buffers are full, each write misses its deadline and
    // the stream is dropped: a reading client gets a slot again.
    let limit = Duration::from_secs(60);
    let ok = crate::support::wait_until(limit, || {
        let (mut s, mut buf, head) = open_stream(addr, "/live/");
        head.starts_with("HTTP/1.0 200")
            && next_message(&mut s, &mut buf, Duration::from_secs(5)).is_some()
    });
    assert!(
        ok,
        "a stream nobody reads kept its slot for {:?}",
        t0.elapsed()
    );
    assert!(
        t0.elapsed() >= RESPONSE_DEADLINE,
        "dropped before the write deadline?"
    );
    drop(stuck);
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
}
