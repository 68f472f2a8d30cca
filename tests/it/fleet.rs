//! The remote witness against a real OpenSSH sshd (the "remote" is this
//! machine; its `agent-runner` is this build on the sshd's PATH): `hung` and
//! clock skew over `--once`, auto-stop of a real remote serve, blips and
//! lossless resume across an sshd kill, `host_unreachable` beside a healthy
//! host, and no probe left behind when the channel closes.

use crate::support::{self, sshd, BIN};

use serde_json::{json, Value};
use sshd::Harness;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A remote project: a config and a log_dir written by hand.
pub(super) struct Remote {
    pub(super) dir: PathBuf,
    pub(super) logs: PathBuf,
    pub(super) config: PathBuf,
}

impl Remote {
    pub(super) fn new(h: &Harness, name: &str, runtime_extra: &str, monitor_extra: &str) -> Remote {
        let dir = h.root.path().join(format!("remote-{name}"));
        let logs = dir.join("logs");
        std::fs::create_dir_all(logs.join("rounds")).unwrap();
        let config = dir.join("agent-runner.toml");
        std::fs::write(
            &config,
            format!(
                "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = \".\"\nlog_dir = \"{}\"\n{runtime_extra}\n\n[prompt]\nfile = \"prompts/main.md\"\n\n[monitor]\n{monitor_extra}\n",
                logs.display()
            ),
        )
        .unwrap();
        Remote { dir, logs, config }
    }

    /// Append an event whose `ts` is `ago_s` before (now + shift_s).
    pub(super) fn event(&self, ago_s: f64, shift_s: i64, kind: &str, payload: Value) {
        let ts = chrono::Utc::now() + chrono::Duration::seconds(shift_s)
            - chrono::Duration::milliseconds((ago_s * 1000.0) as i64);
        let mut m = serde_json::Map::new();
        m.insert("ts".into(), json!(agent_runner::timefmt::iso_ms(ts)));
        m.insert("event".into(), json!(kind));
        if let Value::Object(p) = payload {
            m.extend(p);
        }
        let line = agent_runner::state::pyjson::to_line(&Value::Object(m)) + "\n";
        let path = self
            .logs
            .join(format!("events-{}.jsonl", agent_runner::timefmt::month(ts)));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
    }
}

pub(crate) fn monitor(h: &Harness, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env("HOME", &h.home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("AGENT_RUNNER_SSH_CONFIG")
        .current_dir(h.root.path())
        // No local config unless a test writes one.
        .args(["--config", "local.toml", "monitor"])
        .args(args);
    c
}

/// `monitor --host pi --remote-config CFG --once --json`, run to its end.
pub(super) fn once_json(h: &Harness, cfg: &str) -> std::process::Output {
    monitor(
        h,
        &["--host", "pi", "--remote-config", cfg, "--once", "--json"],
    )
    .output()
    .unwrap()
}

fn json_lines(s: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(s)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A running monitor whose stdout lines are collected.
pub(super) struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    pub(super) fn start(mut c: Command) -> Running {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = Arc::clone(&lines);
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                l2.lock().unwrap().push(l);
            }
        });
        Running { child, lines }
    }
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
    fn json(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
    fn wait_for(&self, what: &str, timeout: Duration, f: impl Fn(&[Value]) -> bool) {
        let ok = support::wait_until(timeout, || f(&self.json()));
        assert!(
            ok,
            "timed out waiting for {what}; output:\n{}",
            self.lines().join("\n")
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn has_alert(v: &[Value], host: &str, detector: &str) -> bool {
    v.iter()
        .any(|x| x["host"] == host && x["type"] == "alert" && x["detector"] == detector)
}

/// Pids of remote probes reading `config`.
pub(super) fn probes_for(config: &Path) -> Vec<i32> {
    let c = config.display().to_string();
    agent_runner::sys::proc::all()
        .into_iter()
        .filter(|s| {
            let argv = agent_runner::sys::proc::argv(s.pid);
            argv.iter().any(|a| a == "probe") && argv.contains(&c)
        })
        .map(|s| s.pid)
        .collect()
}

#[test]
fn once_reports_a_hung_remote_round_and_exit_codes() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "round_budget_s = 10", "");
    let cfg = r.config.display().to_string();
    // Healthy: a round that started and ended just now.
    r.event(
        2.0,
        0,
        "round_start",
        json!({"round_num": 1, "phase": null}),
    );
    r.event(1.0, 0, "round_end", json!({"round_num": 1}));
    let o = once_json(&h, &cfg);
    let v = json_lines(&o.stdout);
    let alerts: Vec<&Value> = v.iter().filter(|x| x["type"] == "alert").collect();
    assert!(!has_alert(&v, "pi", "hung"), "{v:?}");
    assert_eq!(
        o.status.code(),
        Some(if alerts.is_empty() { 0 } else { 1 }),
        "{v:?}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        v.iter()
            .any(|x| x["type"] == "connected" && x["host"] == "pi"),
        "{v:?}"
    );

    // Round 2 started 100 s ago with a 10 s budget and never ended: hung.
    r.event(
        100.0,
        0,
        "round_start",
        json!({"round_num": 2, "phase": null}),
    );
    let o = once_json(&h, &cfg);
    let v = json_lines(&o.stdout);
    assert!(
        has_alert(&v, "pi", "hung"),
        "{v:?}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1));
    // Plain lines when stdout is not a terminal.
    let o = monitor(&h, &["--host", "pi", "--remote-config", &cfg, "--once"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("pi: [WARN] hung \u{2014} Round 2 started")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("pi: connected (agent-runner ")),
        "{text}"
    );
    assert_eq!(o.status.code(), Some(1));

    // A host nobody answers for: exit 2, the other host still evaluated.
    let port = sshd::free_port();
    let cfg2 = h.root.path().join("ssh_config2");
    let base = std::fs::read_to_string(&h.client_config).unwrap();
    std::fs::write(
        &cfg2,
        format!("{base}\nHost dead\n  HostName 127.0.0.1\n  Port {port}\n  ConnectTimeout 3\n"),
    )
    .unwrap();
    let o = monitor(
        &h,
        &[
            "--host",
            "pi",
            "--host",
            "dead",
            "--remote-config",
            &cfg,
            "--once",
            "--json",
            "--ssh-config",
            cfg2.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let v = json_lines(&o.stdout);
    assert!(has_alert(&v, "pi", "hung"), "{v:?}");
    assert!(has_alert(&v, "dead", "host_unreachable"), "{v:?}");
    assert_eq!(o.status.code(), Some(69), "{v:?}");
}

#[test]
fn a_remote_clock_one_hour_off_raises_no_false_hung_or_stale() {
    let h = Harness::new();
    // The remote's clock (as its probe reports it and as its events are
    // stamped) is one hour behind this machine's.
    h.put_remote_binary(&[("AGENT_RUNNER_PROBE_CLOCK_OFFSET_S", "-3600")]);
    let r = Remote::new(&h, "p", "round_budget_s = 60", "");
    let cfg = r.config.display().to_string();
    r.event(
        5.0,
        -3600,
        "round_start",
        json!({"round_num": 1, "phase": null}),
    );
    r.event(3.0, -3600, "agent_spawn", json!({"round_num": 1}));
    let o = once_json(&h, &cfg);
    let v = json_lines(&o.stdout);
    assert!(
        v.iter().any(|x| x["type"] == "connected"),
        "{v:?}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for d in ["hung", "supervisor_stale"] {
        assert!(
            !has_alert(&v, "pi", d),
            "false '{d}' from a skewed clock: {v:?}"
        );
    }
    // Control: the same log read against this machine's clock is an hour
    // old, so the detectors would fire on it.
    let local = agent_runner::config::default_config(&r.dir, &r.logs).unwrap();
    let mut cfg_local = local.clone();
    cfg_local.runtime.round_budget_s = 60;
    let alerts = agent_runner::witness::monitor::check_once(&cfg_local)
        .unwrap()
        .alerts;
    assert!(alerts.iter().any(|a| a.detector == "hung"), "{alerts:?}");
}

#[test]
fn disk_critical_auto_stops_the_remote_serve_over_the_same_session() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let p = support::Project::new();
    let agent = p.agent("slow.sh", "cat >/dev/null; sleep 2; exit 0");
    let cfg = p.config(
        &agent,
        "round_budget_s = 60",
        "[monitor]\nauto_stop_on = [\"disk_critical\"]\n\n[monitor.host_health.disk]\nwarning_pct = 0.5\ncritical_pct = 1\n",
    );
    let o = p.run(&["start"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let serve_pid = agent_runner::service::pidfile::read(&p.log_dir().join("serve.pid"))
        .unwrap()
        .unwrap()
        .pid;
    assert!(support::alive(serve_pid));
    // The witness has a local config whose log_dir records its own events.
    let local_logs = h.root.path().join("witness-logs");
    std::fs::create_dir_all(&local_logs).unwrap();
    std::fs::write(
        h.root.path().join("local.toml"),
        format!(
            "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = \".\"\nlog_dir = \"{}\"\n\n[prompt]\nfile = \"prompts/main.md\"\n",
            local_logs.display()
        ),
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    let m = follow_json(&h, &cfg_s);
    m.wait_for(
        "disk_critical and auto-stop",
        Duration::from_secs(90),
        |v| {
            has_alert(v, "pi", "disk_critical")
                && v.iter()
                    .any(|x| x["type"] == "auto_stop" && x["ok"] == true)
        },
    );
    assert!(
        support::wait_until(Duration::from_secs(60), || !support::alive(serve_pid)),
        "remote serve {serve_pid} still running after auto-stop"
    );
    let text = witness_events(&local_logs);
    assert!(text.contains("\"monitor_auto_stop_triggered\""), "{text}");
    assert!(text.contains("\"disk_critical\""), "{text}");
}

/// Restart a killed sshd on its port, from the config the harness wrote.
pub(super) fn respawn(s: &sshd::Sshd) -> Child {
    let c = Command::new(sshd::SSHD)
        .args(["-D", "-e", "-f"])
        .arg(s.dir.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = support::wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", s.port)).is_ok()
    });
    assert!(up, "sshd did not come back on port {}", s.port);
    c
}

/// `local.toml` for the witness: its own log_dir (returned) and a failure
/// tolerance long enough that an outage is blips, never a give-up.
pub(super) fn witness_config(h: &Harness) -> PathBuf {
    let local_logs = h.root.path().join("witness-logs");
    std::fs::create_dir_all(&local_logs).unwrap();
    std::fs::write(
        h.root.path().join("local.toml"),
        format!(
            "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = \".\"\nlog_dir = \"{}\"\n\n[prompt]\nfile = \"prompts/main.md\"\n\n[monitor]\nremote_failure_tolerance_s = 300\n",
            local_logs.display()
        ),
    )
    .unwrap();
    local_logs
}

/// `monitor --host pi --json --interval 1` on the remote config `cfg`.
fn follow_json(h: &Harness, cfg: &str) -> Running {
    Running::start(monitor(
        h,
        &[
            "--host",
            "pi",
            "--remote-config",
            cfg,
            "--json",
            "--interval",
            "1",
        ],
    ))
}

/// Every event the witness recorded in its own log_dir, as one text.
fn witness_events(local_logs: &Path) -> String {
    std::fs::read_dir(local_logs)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("events-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

/// `monitor --host pi --mode events` on the remote config `cfg`.
fn follow_events(h: &Harness, cfg: &str) -> Running {
    Running::start(monitor(
        h,
        &[
            "--host",
            "pi",
            "--remote-config",
            cfg,
            "--mode",
            "events",
            "--interval",
            "1",
        ],
    ))
}

/// The `seq` of every relayed event of `kind`, in the order printed.
fn seqs(m: &Running, kind: &str) -> Vec<u64> {
    m.json()
        .iter()
        .filter(|v| v["event"] == kind)
        .filter_map(|v| v["seq"].as_u64())
        .collect()
}

/// Kill the pi's sshd (listener, sessions and what they run), append
/// `during` events of `kind` while it is down, bring it back on the same
/// port and append `after` more. Returns the restarted sshd.
fn outage(
    h: &mut Harness,
    r: &Remote,
    kind: &str,
    next: &mut u64,
    during: u64,
    after: u64,
) -> Child {
    h.pi.kill_all();
    for _ in 0..during {
        r.event(0.0, 0, kind, json!({"round_num": 1, "seq": *next}));
        *next += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let back = respawn(&h.pi);
    for _ in 0..after {
        r.event(0.0, 0, kind, json!({"round_num": 1, "seq": *next}));
        *next += 1;
    }
    back
}

#[test]
fn killing_sshd_mid_stream_blips_then_resumes_without_loss_or_duplicates() {
    let mut h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "", "");
    let cfg = r.config.display().to_string();
    let local_logs = witness_config(&h);
    let m = follow_events(&h, &cfg);
    // Write ticks until the stream shows one (it starts at the end of the log).
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seqs(&m, "tick").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no event relayed: {:?}",
            m.lines()
        );
        r.event(0.0, 0, "tick", json!({"seq": next}));
        next += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    let first = seqs(&m, "tick")[0];
    for _ in 0..5 {
        r.event(0.0, 0, "tick", json!({"seq": next}));
        next += 1;
    }
    assert!(support::wait_until(Duration::from_secs(30), || seqs(
        &m, "tick"
    )
    .last()
        == Some(&(next - 1))));
    let during_from = next;
    let mut back = outage(&mut h, &r, "tick", &mut next, 7, 3);
    let ok = support::wait_until(Duration::from_secs(90), || {
        seqs(&m, "tick").last() == Some(&(next - 1))
    });
    let got = seqs(&m, "tick");
    let _ = back.kill();
    let _ = back.wait();
    assert!(ok, "not resumed: got {got:?}, expected up to {}", next - 1);
    let want: Vec<u64> = (first..next).collect();
    assert_eq!(
        got,
        want,
        "lost or repeated events (outage wrote {during_from}..{})",
        during_from + 7
    );
    let text = witness_events(&local_logs);
    assert!(
        text.contains("\"monitor_remote_blip\""),
        "no blip recorded: {text}"
    );
    assert!(!text.contains("\"monitor_remote_giveup\""), "{text}");
}

#[test]
fn a_silent_host_is_unreachable_while_another_keeps_reporting() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "round_budget_s = 10", "");
    // A TCP listener that accepts and never speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sport = silent.local_addr().unwrap().port();
    silent.set_nonblocking(true).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) && held.len() < 1000 {
            if let Ok((s, _)) = silent.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let cfg2 = h.root.path().join("ssh_config2");
    let base = std::fs::read_to_string(&h.client_config).unwrap();
    std::fs::write(
        &cfg2,
        format!("{base}\nHost silent\n  HostName 127.0.0.1\n  Port {sport}\n  ConnectTimeout 2\n"),
    )
    .unwrap();
    let fleet = h.root.path().join("hosts.toml");
    std::fs::write(
        &fleet,
        format!(
            "[defaults]\nconfig = \"{}\"\ninterval_s = 1\ntolerance_s = 3\n\n[[host]]\nalias = \"pi\"\nname = \"pi-one\"\n\n[[host]]\nalias = \"silent\"\n",
            r.config.display()
        ),
    )
    .unwrap();
    let m = Running::start(monitor(
        &h,
        &[
            "--fleet",
            fleet.to_str().unwrap(),
            "--json",
            "--ssh-config",
            cfg2.to_str().unwrap(),
        ],
    ));
    m.wait_for("pi-one connected", Duration::from_secs(60), |v| {
        v.iter()
            .any(|x| x["type"] == "connected" && x["host"] == "pi-one")
    });
    m.wait_for("silent unreachable", Duration::from_secs(90), |v| {
        has_alert(v, "silent", "host_unreachable")
    });
    // pi keeps reporting: a round that hangs now raises its alert.
    r.event(
        100.0,
        0,
        "round_start",
        json!({"round_num": 9, "phase": null}),
    );
    m.wait_for("pi-one hung", Duration::from_secs(60), |v| {
        has_alert(v, "pi-one", "hung")
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = holder.join();
}

#[test]
fn the_probe_exits_within_5s_when_its_channel_closes() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "", "");
    let cfg = r.config.display().to_string();
    let start = || {
        let m = Running::start(monitor(
            &h,
            &[
                "--host",
                "pi",
                "--remote-config",
                &cfg,
                "--json",
                "--interval",
                "1",
            ],
        ));
        m.wait_for("connected", Duration::from_secs(60), |v| {
            v.iter().any(|x| x["type"] == "connected")
        });
        let ok = support::wait_until(Duration::from_secs(20), || probes_for(&r.config).len() == 1);
        assert!(ok, "probe not found: {:?}", probes_for(&r.config));
        (m, probes_for(&r.config)[0])
    };
    // 1. The witness is killed (its TCP connection drops).
    let (mut m, probe) = start();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(m.child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = m.child.wait();
    let t = Instant::now();
    let gone = support::wait_until(Duration::from_secs(5), || !support::alive(probe));
    assert!(
        gone,
        "probe {probe} still running {:?} after the witness died",
        t.elapsed()
    );
    drop(m);
    // 2. The sshd session processes die but not the probe itself.
    let (m, probe) = start();
    let sshd_pids: Vec<i32> = agent_runner::sys::proc::descendants(h.pi.pid())
        .into_iter()
        .filter(|s| {
            s.pid != probe
                && !agent_runner::sys::proc::argv(s.pid)
                    .iter()
                    .any(|a| a == "probe")
        })
        .filter(|s| {
            agent_runner::sys::proc::cmdline(s.pid)
                .unwrap_or_default()
                .contains("sshd")
        })
        .map(|s| s.pid)
        .collect();
    assert!(!sshd_pids.is_empty(), "no sshd session process found");
    for p in &sshd_pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let gone = support::wait_until(Duration::from_secs(5), || !support::alive(probe));
    assert!(gone, "probe {probe} survived its sshd session");
    drop(m);
}

#[test]
fn a_remote_without_a_usable_agent_runner_is_named_and_pointed_at_deploy() {
    let h = Harness::new();
    let r = Remote::new(&h, "p", "", "");
    let cfg = r.config.display().to_string();
    // Nothing on the remote PATH.
    let o = once_json(&h, &cfg);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(69), "{err}");
    assert!(
        err.contains("host 'pi' has no 'agent-runner'")
            && err.contains("agent-runner deploy --host pi"),
        "{err}"
    );
    // An old binary without the probe verb.
    let p = h.remote_bin.join("agent-runner");
    support::write_exec(
        &p,
        "#!/bin/sh\necho \"error: unrecognized subcommand 'probe'\" >&2\nexit 2\n",
    );
    let o = once_json(&h, &cfg);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(69), "{err}");
    assert!(
        err.contains("without 'probe --stream'") && err.contains("agent-runner deploy --host pi"),
        "{err}"
    );
}

/// A fleet witness in `--mode http` watching `pi` (its remote config
/// `cfg`), its port, and `/api/fleet` once `ready` holds for it (60 s at
/// most; the test fails naming the last document otherwise).
pub(crate) fn http_witness(
    h: &Harness,
    cfg: &str,
    ready: impl Fn(&Value) -> bool,
) -> (Running, u16, Value) {
    let port = sshd::free_port();
    let port_s = port.to_string();
    let m = Running::start(monitor(
        h,
        &[
            "--host",
            "pi",
            "--remote-config",
            cfg,
            "--mode",
            "http",
            "--port",
            &port_s,
            "--interval",
            "1",
        ],
    ));
    let mut fleet = Value::Null;
    let ok = support::wait_until(Duration::from_secs(60), || {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            return false;
        }
        let (code, body) = http_get(port, "/api/fleet");
        fleet = serde_json::from_str(&body).unwrap_or(Value::Null);
        code == 200 && ready(&fleet)
    });
    assert!(ok, "{fleet}");
    (m, port, fleet)
}

pub(super) fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn http_mode_serves_the_fleet_view_api_and_metrics_with_a_host_label() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "", "");
    r.event(
        1.0,
        0,
        "round_start",
        json!({"round_num": 4, "phase": "build"}),
    );
    let cfg = r.config.display().to_string();
    let (_m, port, fleet) = http_witness(&h, &cfg, |f| f[0]["round"] == 4);
    assert_eq!(fleet[0]["name"], "pi");
    assert_eq!(fleet[0]["phase"], "build");
    let (code, body) = http_get(port, "/metrics");
    assert_eq!(code, 200);
    assert!(
        body.contains("agent_runner_host_up{host=\"pi\"} 1"),
        "{body}"
    );
    assert!(body.contains("agent_runner_round{host=\"pi\"} 4"), "{body}");
    let (code, body) = http_get(port, "/");
    assert_eq!(code, 200);
    assert!(body.contains("href=\"/host/pi\""), "{body}");
    let (code, body) = http_get(port, "/host/pi");
    assert_eq!(code, 200);
    assert!(body.contains("round_start"), "{body}");
    assert_eq!(http_get(port, "/host/nope").0, 404);
}

#[test]
fn exit_on_giveup_records_the_giveup_and_exits_1() {
    let h = Harness::new();
    let local_logs = h.root.path().join("witness-logs");
    std::fs::create_dir_all(&local_logs).unwrap();
    std::fs::write(
        h.root.path().join("local.toml"),
        format!(
            "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = \".\"\nlog_dir = \"{}\"\n\n[prompt]\nfile = \"prompts/main.md\"\n\n[monitor]\nremote_failure_tolerance_s = 2\n",
            local_logs.display()
        ),
    )
    .unwrap();
    let port = sshd::free_port();
    let cfg2 = h.root.path().join("ssh_config2");
    std::fs::write(
        &cfg2,
        format!("Host dead\n  HostName 127.0.0.1\n  Port {port}\n  ConnectTimeout 3\n"),
    )
    .unwrap();
    let mut child = monitor(
        &h,
        &[
            "--host",
            "dead",
            "--exit-on-giveup",
            "--ssh-config",
            cfg2.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let done = support::wait_until(Duration::from_secs(60), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !done {
        let _ = child.kill();
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(done, "did not give up: {err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("relay to 'dead' gave up"), "{err}");
    let text = witness_events(&local_logs);
    assert!(text.contains("\"monitor_remote_giveup\""), "{text}");
    assert!(text.contains("\"monitor_remote_blip\""), "{text}");
}

#[test]
fn probe_log_dir_may_be_relative_to_the_current_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let month = agent_runner::timefmt::month(chrono::Utc::now());
    std::fs::write(
        logs.join(format!("events-{month}.jsonl")),
        format!(
            "{{\"ts\": \"{}\", \"event\": \"round_start\", \"round_num\": 1}}\n",
            agent_runner::timefmt::now_iso_ms()
        ),
    )
    .unwrap();
    let (_, frames) = support::probe_once("logs", tmp.path());
    let real = std::fs::canonicalize(&logs).unwrap();
    let said = std::fs::canonicalize(frames[0]["log_dir"].as_str().unwrap()).unwrap();
    assert_eq!(said, real, "{}", frames[0]);
    assert_eq!(frames.iter().filter(|f| f["type"] == "event").count(), 1);
}

#[test]
fn probe_frames_are_bounded_and_a_missing_config_is_an_error_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let month = agent_runner::timefmt::month(chrono::Utc::now());
    let big = "x".repeat(300_000);
    std::fs::write(
        logs.join(format!("events-{month}.jsonl")),
        format!(
            "{{\"ts\": \"{}\", \"event\": \"round_start\", \"round_num\": 1, \"blob\": \"{big}\"}}\n{{\"ts\": \"{}\", \"event\": \"round_end\", \"round_num\": 1}}\n",
            agent_runner::timefmt::now_iso_ms(),
            agent_runner::timefmt::now_iso_ms()
        ),
    )
    .unwrap();
    let (text, frames) = support::probe_once(&logs, tmp.path());
    assert!(text.lines().all(|l| l.len() < 64 * 1024));
    assert_eq!(frames[0]["type"], "hello");
    assert!(frames.iter().all(|f| f["v"] == 1));
    let events: Vec<&Value> = frames.iter().filter(|f| f["type"] == "event").collect();
    assert_eq!(events.len(), 2);
    let first: Value = serde_json::from_str(events[0]["line"].as_str().unwrap()).unwrap();
    assert_eq!(first["truncated"], true);
    assert_eq!(first["event"], "round_start");
    assert!(events[1]["cursor"].as_str().unwrap().ends_with(&format!(
        ":{}",
        std::fs::metadata(logs.join(format!("events-{month}.jsonl")))
            .unwrap()
            .len()
    )));
    assert_eq!(frames.last().unwrap()["type"], "snapshot");

    let o = Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/agent-runner.toml",
            "probe",
            "--stream",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let f: Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(f["type"], "error");
    assert!(f["message"].as_str().unwrap().contains("--log-dir"), "{f}");
}

#[test]
fn oauth_fail_is_detected_from_the_relayed_round_log_tails() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "", "");
    let cfg = r.config.display().to_string();
    for n in 1..=10u64 {
        let ago = 200.0 - n as f64 * 10.0;
        r.event(
            ago,
            0,
            "round_start",
            json!({"round_num": n, "phase": null}),
        );
        r.event(ago - 1.0, 0, "agent_exit", json!({"round_num": n, "exit_code": 1, "duration_s": 2.0, "timed_out": false, "exit_cause": "error"}));
        r.event(ago - 1.0, 0, "round_end", json!({"round_num": n}));
        std::fs::write(
            r.logs
                .join("rounds")
                .join(format!("R{n}-20261120T1200{n:02}.log")),
            "starting\nError: 401 Unauthorized (token expired)\n",
        )
        .unwrap();
    }
    let o = once_json(&h, &cfg);
    let v = json_lines(&o.stdout);
    assert!(
        has_alert(&v, "pi", "oauth_fail"),
        "{v:?}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_fleet_of_twenty_hosts_all_report_through_bounded_jittered_handshakes() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "round_budget_s = 10", "");
    r.event(
        1.0,
        0,
        "round_start",
        json!({"round_num": 1, "phase": null}),
    );
    // 20 aliases for the same sshd (more than the 16 concurrent handshakes,
    // so the start is jittered too).
    let base = std::fs::read_to_string(&h.client_config).unwrap();
    let mut cfg = base.clone();
    let mut fleet = format!(
        "[defaults]\nconfig = \"{}\"\ninterval_s = 1\n",
        r.config.display()
    );
    for i in 0..20 {
        cfg.push_str(&format!(
            "\nHost h{i:02}\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
            h.pi.port,
            h.user_key.display(),
            h.known_hosts.display()
        ));
        fleet.push_str(&format!(
            "\n[[host]]\nalias = \"h{i:02}\"\ntags = [\"t\"]\n"
        ));
    }
    let cfg_p = h.root.path().join("ssh_config20");
    std::fs::write(&cfg_p, cfg).unwrap();
    let fleet_p = h.root.path().join("hosts.toml");
    std::fs::write(&fleet_p, fleet).unwrap();
    let m = Running::start(monitor(
        &h,
        &[
            "--fleet",
            fleet_p.to_str().unwrap(),
            "--json",
            "--ssh-config",
            cfg_p.to_str().unwrap(),
        ],
    ));
    let connected = |v: &[Value]| {
        v.iter()
            .filter(|x| x["type"] == "connected")
            .filter_map(|x| x["host"].as_str().map(String::from))
            .collect::<std::collections::BTreeSet<_>>()
    };
    m.wait_for("20 hosts connected", Duration::from_secs(120), |v| {
        connected(v).len() == 20
    });
    // The round hangs (10 s budget × 1.5): every host reports it.
    m.wait_for("20 hung alerts", Duration::from_secs(90), |v| {
        (0..20).all(|i| has_alert(v, &format!("h{i:02}"), "hung"))
    });
}

#[test]
fn on_a_terminal_the_table_is_redrawn_in_place() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "", "");
    r.event(
        1.0,
        0,
        "round_start",
        json!({"round_num": 3, "phase": "build"}),
    );
    let cfg = r.config.display().to_string();
    // `script` gives the monitor a pseudo-terminal as stdout.
    let inner = format!(
        "'{BIN}' --config local.toml monitor --host pi --remote-config '{cfg}' --interval 1"
    );
    let o = Command::new("timeout")
        .args(["-s", "TERM", "8", "script", "-qfec", &inner, "/dev/null"])
        .env("HOME", &h.home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("AGENT_RUNNER_SSH_CONFIG")
        .current_dir(h.root.path())
        .stdin(Stdio::null())
        .output()
        .expect("run 'script' (util-linux) for a pseudo-terminal");
    let text = String::from_utf8_lossy(&o.stdout);
    let frames = text.matches("\x1b[H\x1b[2J").count();
    assert!(frames >= 2, "not redrawn: {text:?}");
    let last = text.rsplit("\x1b[H\x1b[2J").next().unwrap();
    assert!(last.contains("HOST") && last.contains("STATE"), "{last:?}");
    let row = last
        .lines()
        .find(|l| l.starts_with("pi "))
        .unwrap_or_else(|| panic!("{last:?}"));
    assert!(row.contains("3*") && row.contains("build"), "{row}");
    assert!(row.contains("ok") || row.contains("alert"), "{row}");
}

/// Put the Python tool (0.3.14, `AGENT_RUNNER_PY` or /opt/pyar) on the remote
/// PATH as `agent-runner`: a host of a mixed fleet that has no probe.
fn put_remote_python(h: &Harness) {
    let py = support::python_tool();
    let p = h.remote_bin.join("agent-runner");
    support::write_exec(&p, format!("#!/bin/sh\nexec '{}' \"$@\"\n", py.display()));
}

#[test]
fn a_remote_running_the_python_tool_is_watched_through_its_events_tail() {
    let h = Harness::new();
    put_remote_python(&h);
    let r = Remote::new(&h, "py", "round_budget_s = 10", "");
    let cfg = r.config.display().to_string();
    // Round 2 started 100 s ago with a 10 s budget and never ended: hung,
    // from events the Python tool relays (it has no `probe`).
    r.event(
        100.0,
        0,
        "round_start",
        json!({"round_num": 2, "phase": null}),
    );
    let o = once_json(&h, &cfg);
    let v = json_lines(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        v.iter().any(|x| x["type"] == "connected"
            && x["host"] == "pi"
            && x["relay"] == "events --tail"
            && x["version"] == "python"),
        "{v:?}\n{err}"
    );
    assert!(has_alert(&v, "pi", "hung"), "{v:?}\n{err}");
    assert_eq!(o.status.code(), Some(1), "{v:?}\n{err}");

    // `--mode events` relays the host's lines as they are.
    let ev = Running::start(monitor(
        &h,
        &["--host", "pi", "--remote-config", &cfg, "--mode", "events"],
    ));
    ev.wait_for("the relayed round_start", Duration::from_secs(60), |v| {
        v.iter()
            .any(|x| x["event"] == "round_start" && x["round_num"] == 2)
    });
    drop(ev);

    // Following: a throttle appended on the host raises rate_limit_active.
    let m = Running::start(monitor(
        &h,
        &["--host", "pi", "--remote-config", &cfg, "--json"],
    ));
    m.wait_for("connected", Duration::from_secs(60), |v| {
        v.iter().any(|x| x["type"] == "connected")
    });
    let reset = chrono::Utc::now().timestamp() + 3600;
    r.event(
        0.0,
        0,
        "transient_error_detected",
        json!({"classification": "rate_limit", "agent": "claude", "reset_at_epoch": reset,
               "round_num": 2, "raw": "429", "phase": null}),
    );
    m.wait_for("rate_limit_active", Duration::from_secs(60), |v| {
        has_alert(v, "pi", "rate_limit_active")
    });
    // The witness goes (SIGKILL): the Python tail on the host goes too,
    // although nothing more is appended for it to fail writing.
    assert_eq!(python_tails_for(&r.config).len(), 1, "one relay running");
    drop(m);
    let gone = support::wait_until(Duration::from_secs(5), || {
        python_tails_for(&r.config).is_empty()
    });
    assert!(
        gone,
        "remote 'events --tail' left behind: {:?}",
        python_tails_for(&r.config)
    );
}

/// Pids of remote Python `events --tail` processes reading `config`.
fn python_tails_for(config: &Path) -> Vec<i32> {
    let c = config.display().to_string();
    agent_runner::sys::proc::all()
        .into_iter()
        .filter(|s| {
            let argv = agent_runner::sys::proc::argv(s.pid);
            argv.iter().any(|a| a == "events")
                && argv.iter().any(|a| a == "--tail")
                && argv.contains(&c)
                && !argv.iter().any(|a| a == "-c")
        })
        .map(|s| s.pid)
        .collect()
}

#[test]
fn a_python_relay_resumes_across_an_sshd_kill_without_loss_or_duplicates() {
    let mut h = Harness::new();
    put_remote_python(&h);
    let r = Remote::new(&h, "py", "", "");
    let cfg = r.config.display().to_string();
    witness_config(&h);
    // History the first connect replays (the relay backfills a day).
    let kind = "round_progress";
    let mut next = 0u64;
    for _ in 0..3 {
        r.event(5.0, 0, kind, json!({"round_num": 1, "seq": next}));
        next += 1;
    }
    let m = follow_events(&h, &cfg);
    assert!(
        support::wait_until(Duration::from_secs(60), || seqs(&m, kind).len() == 3),
        "backlog not relayed: {:?}",
        m.lines()
    );
    for _ in 0..5 {
        r.event(0.0, 0, kind, json!({"round_num": 1, "seq": next}));
        next += 1;
    }
    assert!(support::wait_until(Duration::from_secs(30), || seqs(
        &m, kind
    )
    .last()
        == Some(&(next - 1))));
    let mut back = outage(&mut h, &r, kind, &mut next, 7, 3);
    let ok = support::wait_until(Duration::from_secs(90), || {
        seqs(&m, kind).last() == Some(&(next - 1))
    });
    let got = seqs(&m, kind);
    let _ = back.kill();
    let _ = back.wait();
    assert!(ok, "not resumed: got {got:?}, expected up to {}", next - 1);
    assert_eq!(
        got,
        (0..next).collect::<Vec<_>>(),
        "lost or repeated events"
    );
}

#[test]
fn oauth_fail_on_a_python_host_auto_stops_its_serve_through_the_python_tools_stop() {
    let h = Harness::new();
    put_remote_python(&h);
    let r = Remote::new(&h, "py", "", "auto_stop_on = [\"oauth_fail\"]");
    let cfg = r.config.display().to_string();
    let local_logs = witness_config(&h);
    // The host's "serve": a process the Python tool's pid-file mode knows
    // (a bare-int serve.pid, which it accepts) and its `stop` will SIGTERM.
    let mut serve = Command::new("sleep").arg("600").spawn().unwrap();
    std::fs::write(r.logs.join("serve.pid"), serve.id().to_string()).unwrap();
    // Ten failed rounds, three of them with an agent-reported auth error.
    for n in 1..=10u64 {
        let ago = 300.0 - 20.0 * n as f64;
        r.event(
            ago,
            0,
            "round_start",
            json!({"round_num": n, "phase": null}),
        );
        if n <= 3 {
            r.event(
                ago - 4.0,
                0,
                "agent_auth_error_detected",
                json!({"round_num": n, "agent": "claude", "raw": "401"}),
            );
        }
        r.event(
            ago - 5.0,
            0,
            "agent_exit",
            json!({"round_num": n, "exit_code": 1, "duration_s": 5.0, "timed_out": false,
                   "exit_cause": "error"}),
        );
        r.event(ago - 5.5, 0, "round_end", json!({"round_num": n}));
    }
    let m = follow_json(&h, &cfg);
    m.wait_for("oauth_fail and auto-stop", Duration::from_secs(90), |v| {
        has_alert(v, "pi", "oauth_fail")
            && v.iter()
                .any(|x| x["type"] == "auto_stop" && x["ok"] == true)
    });
    let stopped = support::wait_until(Duration::from_secs(30), || {
        serve.try_wait().ok().flatten().is_some()
    });
    if !stopped {
        let _ = serve.kill();
    }
    assert!(stopped, "the host's serve still runs after auto-stop");
    let text = witness_events(&local_logs);
    assert!(text.contains("\"monitor_auto_stop_triggered\""), "{text}");
    assert!(text.contains("\"oauth_fail\""), "{text}");
}
