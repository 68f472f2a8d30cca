//! The live dashboard in a real browser: headless Chromium (Debian's
//! package, driven over the DevTools protocol on a pipe, `--remote-debugging-pipe`)
//! loads the fleet overview and a host page of a two-host test fleet (real
//! sshd hosts on 127.0.0.1) from `monitor --fleet … --mode http`, and the
//! test reads the DOM: one row per host with its state class, the alert
//! with its severity, an `<svg>` timeline with one bar per round, and an
//! update that arrives over SSE after an event is appended on the host.
//! Screenshots are written under the test's temp dir (and copied to
//! `$AGENT_RUNNER_KEEP_SCREENSHOTS` when that is set). The browser talks to
//! 127.0.0.1 only (background networking, sync, component updates off).

use crate::notify::write_remote_event;
use crate::support::{sshd, wait_until};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium and its DevTools pipe.
struct Browser {
    child: Child,
    to: std::fs::File,
    from: mpsc::Receiver<Value>,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let exe = std::env::var("AGENT_RUNNER_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
        assert!(
            Path::new(&exe).exists(),
            "'{exe}' is missing: the dashboard's browser test needs Debian's Chromium (apt-get install chromium; .ci/run installs it)"
        );
        let profile = tempfile::Builder::new()
            .prefix("ar-chromium-")
            .tempdir()
            .unwrap();
        let flags = nix::fcntl::OFlag::O_CLOEXEC;
        // commands: we write `a_w`, the browser reads fd 3; answers: the
        // browser writes fd 4, we read `b_r`.
        let (a_r, a_w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(flags).unwrap();
        let (b_r, b_w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(flags).unwrap();
        let (cr, cw) = (a_r.as_raw_fd(), b_w.as_raw_fd());
        let mut c = Command::new(&exe);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-dev-shm-usage",
            "--mute-audio",
            "--hide-scrollbars",
            "--window-size=1200,1000",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            c.pre_exec(move || {
                let a = libc::fcntl(cr, libc::F_DUPFD, 10);
                let b = libc::fcntl(cw, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start '{exe}': {e}"));
        drop((a_r, b_w));
        let (tx, rx) = mpsc::channel();
        let mut reader = std::fs::File::from(b_r);
        std::thread::spawn(move || {
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                while let Some(i) = buf.iter().position(|b| *b == 0) {
                    let msg: Vec<u8> = buf.drain(..=i).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..msg.len() - 1]) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Browser {
            child,
            to: std::fs::File::from(a_w),
            from: rx,
            next_id: 0,
            session: None,
            _profile: profile,
        }
    }

    /// Send a command (to the page's session once attached); its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .expect("write to the DevTools pipe");
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method} from the browser"));
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Open `url` in a new tab and talk to that tab from now on.
    fn open(&mut self, url: &str) {
        let t = self.call("Target.createTarget", json!({"url": url}));
        let target = t["targetId"].as_str().unwrap().to_string();
        let a = self.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        self.session = Some(a["sessionId"].as_str().unwrap().to_string());
    }

    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Evaluate `expr` until it is true (or fail after `within`, saying `what`).
    fn wait(&mut self, what: &str, within: Duration, expr: &str) {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if self.eval(expr) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let body = self.eval("document.body ? document.body.outerHTML.slice(0, 4000) : ''");
        panic!("timed out waiting for {what}; the page:\n{body}");
    }

    fn screenshot(&mut self, path: &Path) {
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = data_encoding::BASE64
            .decode(r["data"].as_str().unwrap().as_bytes())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, &png).unwrap();
        if let Some(dir) = std::env::var_os("AGENT_RUNNER_KEEP_SCREENSHOTS") {
            let kept = PathBuf::from(&dir).join(path.file_name().unwrap());
            std::fs::create_dir_all(&dir)
                .and_then(|_| std::fs::copy(path, &kept))
                .unwrap_or_else(|e| panic!("cannot keep the screenshot as {kept:?}: {e}"));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metric(logs: &Path, ago_s: i64, avail: u64, disk: f64) {
    let ts = chrono::Utc::now() - chrono::Duration::seconds(ago_s);
    let line = json!({
        "ts": agent_runner::timefmt::iso_ms(ts), "mem_total_mb": 8000, "mem_available_mb": avail,
        "mem_free_mb": avail / 2, "disk_used_pct": disk, "disk_free_gb": 40.0, "psi_some_avg10": 0.1,
        "psi_full_avg10": 0.0,
    });
    let p = logs.join(format!(
        "metrics-{}.jsonl",
        agent_runner::timefmt::month(ts)
    ));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

fn round(logs: &Path, n: u64, ago_s: i64, dur: f64, cause: &str) {
    let code = if cause == "clean" { 0 } else { 1 };
    write_remote_event(
        logs,
        "round_start",
        json!({"round_num": n, "phase": "build"}),
        ago_s,
    );
    write_remote_event(
        logs,
        "agent_exit",
        json!({"round_num": n, "exit_code": code, "duration_s": dur, "timed_out": cause == "timeout", "exit_cause": cause}),
        ago_s - dur as i64,
    );
    write_remote_event(
        logs,
        "round_end",
        json!({"round_num": n}),
        ago_s - dur as i64,
    );
}

#[test]
fn the_dashboard_in_headless_chromium_shows_the_fleet_and_takes_an_update_over_sse() {
    let h = sshd::Harness::new();
    h.put_remote_binary(&[]);
    // kitchen: three finished rounds, usage today, memory and disk samples.
    let kitchen = crate::fleet::Remote::new(&h, "kitchen", "", "");
    round(&kitchen.logs, 1, 900, 120.0, "clean");
    round(&kitchen.logs, 2, 600, 15.0, "error");
    round(&kitchen.logs, 3, 300, 240.0, "timeout");
    write_remote_event(
        &kitchen.logs,
        "agent_usage_recorded",
        json!({"agent": "claude", "round_num": 3, "input_tokens": 12000, "output_tokens": 345, "cost_usd": 0.42}),
        60,
    );
    // The disk as the probe's live sample will find it (no disk_growth).
    let disk = agent_runner::state::metrics::sample(&kitchen.logs).disk_used_pct;
    for i in 0..10 {
        metric(&kitchen.logs, 600 - i * 60, 5000 - (i as u64) * 100, disk);
    }
    // garage: a round that never ends with a 10 s budget: hung.
    let garage = crate::fleet::Remote::new(
        &h,
        "garage",
        "round_budget_s = 10",
        "supervisor_stale_threshold_s = 0",
    );
    write_remote_event(
        &garage.logs,
        "round_start",
        json!({"round_num": 7, "phase": "<script>alert(1)</script>"}),
        100,
    );
    let hosts = h.root.path().join("hosts.toml");
    std::fs::write(
        &hosts,
        format!(
            "[[host]]\nalias = \"pi\"\nname = \"kitchen\"\nconfig = \"{}\"\n\n[[host]]\nalias = \"jump\"\nname = \"garage\"\nconfig = \"{}\"\n",
            kitchen.config.display(),
            garage.config.display()
        ),
    )
    .unwrap();
    let port = sshd::free_port();
    let mut witness = crate::fleet::monitor(
        &h,
        &[
            "--fleet",
            hosts.to_str().unwrap(),
            "--mode",
            "http",
            "--port",
            &port.to_string(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _w = Kill(&mut witness);
    let api = |path: &str| -> Value {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return Value::Null;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        let mut b = String::new();
        let _ = s.read_to_string(&mut b);
        b.split_once("\r\n\r\n")
            .and_then(|x| serde_json::from_str(x.1).ok())
            .unwrap_or(Value::Null)
    };
    assert!(
        wait_until(Duration::from_secs(60), || {
            let f = api("/api/fleet");
            f[0]["state"] == "alert" && f[1]["state"] == "ok" && f[1]["round"] == 3
        }),
        "the fleet never came up: {}",
        api("/api/fleet")
    );
    let shots = h.root.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let base = format!("http://127.0.0.1:{port}");

    let mut b = Browser::start();
    b.open(&format!("{base}/"));
    b.wait(
        "the overview, live",
        Duration::from_secs(30),
        "document.querySelectorAll('tr.host').length === 2 && +document.body.dataset.updates >= 1",
    );
    let rows = b.eval(
        "Array.from(document.querySelectorAll('tr.host')).map(r => [r.dataset.host, r.className])",
    );
    assert_eq!(
        rows,
        json!([["garage", "host st-alert"], ["kitchen", "host st-ok"]]),
        "{rows}"
    );
    let badge = b.eval("document.querySelector('tr.st-alert .sev').className + ' ' + document.querySelector('tr.st-alert .sev').textContent");
    assert_eq!(badge, json!("sev sev-warning WARN hung"));
    let usage =
        b.eval("document.querySelector('tr[data-host=kitchen]').lastElementChild.textContent");
    assert_eq!(usage, json!("12.3k tok \u{b7} $0.42"));
    // Round, phase and the age of the newest event (ticking on the page).
    let cells = b.eval("Array.from(document.querySelectorAll('tr[data-host=kitchen] td')).slice(2, 5).map(c => c.textContent)");
    assert_eq!(
        (&cells[0], &cells[1]),
        (&json!("3"), &json!("build")),
        "{cells}"
    );
    let age = cells[2].as_str().unwrap_or("");
    assert!(
        age.strip_suffix("s ago")
            .or(age.strip_suffix("m ago"))
            .is_some_and(|n| n.parse::<u32>().is_ok()),
        "{cells}"
    );
    // A phase sent by a host is text, never markup.
    assert_eq!(
        b.eval("document.querySelectorAll('main script').length"),
        json!(0)
    );
    assert_eq!(
        b.eval("document.querySelector('tr[data-host=garage] td:nth-child(4)').textContent"),
        json!("<script>alert(1)</script>")
    );
    // Everything the page loaded came from the witness; it names nothing else.
    let foreign = format!(
        "performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('{base}/'))"
    );
    assert_eq!(b.eval(&foreign), json!([]));
    assert_eq!(
        b.eval(
            "document.querySelectorAll('script[src], link[href], img[src], iframe, object').length"
        ),
        json!(0)
    );
    let size = b
        .eval("document.documentElement.outerHTML.length")
        .as_u64()
        .unwrap();
    assert!(size < 150 * 1024, "the overview is {size} bytes");
    b.screenshot(&shots.join("fleet.png"));

    // garage's page: its alert, and the running round against its budget.
    b.call(
        "Page.navigate",
        json!({"url": format!("{base}/host/garage")}),
    );
    b.wait(
        "garage's page, live",
        Duration::from_secs(30),
        "location.pathname === '/host/garage' && !!document.querySelector('p.current.running') && +document.body.dataset.updates >= 1",
    );
    assert_eq!(
        b.eval("document.querySelector('ul.alerts li').className + ' ' + document.querySelector('ul.alerts li b').textContent"),
        json!("sev-warning [WARN] hung")
    );
    assert_eq!(
        b.eval("[document.querySelector('div.budget').className, document.querySelector('div.budget .used').dataset.budget]"),
        json!(["budget over", "10"]),
        "100 s into a 10 s budget"
    );
    assert!(
        b.eval("document.querySelector('p.current.running').textContent")
            .as_str()
            .is_some_and(
                |t| t.starts_with("R7 phase <script>alert(1)</script> \u{b7} running ")
                    && t.ends_with(" of 10s budget")
            ),
        "{}",
        b.eval("document.querySelector('p.current.running').textContent")
    );
    b.screenshot(&shots.join("garage.png"));

    b.call(
        "Page.navigate",
        json!({"url": format!("{base}/host/kitchen")}),
    );
    b.wait(
        "the host page, live",
        Duration::from_secs(30),
        "location.pathname === '/host/kitchen' && document.querySelectorAll('svg.timeline rect.bar').length === 3 && +document.body.dataset.updates >= 1",
    );
    let classes = b.eval("Array.from(document.querySelectorAll('svg.timeline rect.bar')).map(r => r.getAttribute('class'))");
    assert_eq!(classes, json!(["bar b-ok", "bar b-error", "bar b-timeout"]));
    assert_eq!(
        b.eval("document.querySelectorAll('.spark svg polyline').length >= 2"),
        json!(true)
    );
    assert_eq!(
        b.eval("document.querySelector('table.events tbody tr td:nth-child(2)').textContent"),
        json!("agent_usage_recorded")
    );
    let before = b.eval("+document.body.dataset.updates").as_u64().unwrap();
    // A new round on the host: pushed over SSE, no reload.
    b.eval("window.__same_page = true");
    round(&kitchen.logs, 4, 20, 12.0, "clean");
    b.wait(
        "the new round over SSE",
        Duration::from_secs(30),
        &format!("document.querySelectorAll('svg.timeline rect.bar').length === 4 && +document.body.dataset.updates > {before}"),
    );
    assert_eq!(
        b.eval("window.__same_page === true"),
        json!(true),
        "the page was reloaded"
    );
    assert_eq!(
        b.eval("document.querySelector('svg.timeline rect.bar[data-round=\"4\"]').getAttribute('class')"),
        json!("bar b-ok")
    );
    let size = b
        .eval("document.documentElement.outerHTML.length")
        .as_u64()
        .unwrap();
    assert!(size < 150 * 1024, "the host page is {size} bytes");
    assert_eq!(b.eval(&foreign), json!([]));
    b.screenshot(&shots.join("host.png"));
    assert!(shots.join("fleet.png").metadata().unwrap().len() > 1000);
}
