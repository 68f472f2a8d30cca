//! Rotation, truncation, re-creation, clock steps and huge lines, against a
//! real OpenSSH sshd whose `agent-runner` is this build (the probe), and
//! through the local `events --tail`: every event arrives once, a replaced
//! file is named on stderr, a file renamed away and back is not sent again,
//! a huge line is stubbed and the probe's memory goes back down, and
//! `--mode events` / `--json` print only JSON lines on stdout.

use super::fleet::{monitor, probes_for, respawn, witness_config, Remote};
use crate::support::{self, sshd, BIN};

use serde_json::Value;
use sshd::Harness;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running command whose stdout and stderr lines are collected.
struct Watch {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

fn collect(r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = Arc::clone(&lines);
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(r).lines().map_while(Result::ok) {
            l2.lock().unwrap().push(l);
        }
    });
    lines
}

impl Watch {
    fn start(mut c: Command) -> Watch {
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Watch { child, out, err }
    }
    fn out(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }
    fn err(&self) -> Vec<String> {
        self.err.lock().unwrap().clone()
    }
    /// The `seq` of every printed event of `kind` (raw event lines).
    fn seqs(&self, kind: &str) -> Vec<u64> {
        self.out()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == kind)
            .filter_map(|v| v["seq"].as_u64())
            .collect()
    }
    /// Wait until `n` events of `kind` were printed (or `timeout`).
    fn wait_count(&self, kind: &str, n: usize, timeout: Duration) -> bool {
        support::wait_until(timeout, || self.seqs(kind).len() >= n)
    }
    fn dump(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.out().join("\n"),
            self.err().join("\n")
        )
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Append one event line (`ts` now, a unique `seq`) to `path` with one
/// `write` on an `O_APPEND` descriptor, as the supervisor does.
fn append(path: &Path, kind: &str, seq: u64) {
    let line = format!(
        "{{\"ts\": \"{}\", \"event\": \"{kind}\", \"round_num\": 1, \"seq\": {seq}}}\n",
        agent_runner::timefmt::now_iso_ms()
    );
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
}

/// Append `kind` events `from..to` to `path`.
fn append_range(path: &Path, kind: &str, from: u64, to: u64) {
    for s in from..to {
        append(path, kind, s);
    }
}

/// `monitor --host pi --mode events --interval 1` on `r`, once it relays:
/// `ready` events are appended to `file` until one is printed.
fn follow_ready(h: &Harness, r: &Remote, file: &Path) -> Watch {
    let cfg = r.config.display().to_string();
    let w = Watch::start(monitor(
        h,
        &[
            "--host",
            "pi",
            "--remote-config",
            &cfg,
            "--mode",
            "events",
            "--interval",
            "1",
        ],
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    while w.seqs("ready").is_empty() {
        assert!(Instant::now() < deadline, "nothing relayed: {}", w.dump());
        append(file, "ready", n);
        n += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    w
}

/// Every `tick` from 0 to `n` printed exactly once, in order.
fn assert_exactly_once(w: &Watch, n: u64, what: &str) {
    let got = w.seqs("tick");
    let want: Vec<u64> = (0..n).collect();
    let missing = want.iter().filter(|s| !got.contains(s)).count();
    let repeated = got.len() - got.iter().collect::<std::collections::BTreeSet<_>>().len();
    assert!(
        missing == 0 && repeated == 0,
        "{what}: {missing} of {n} events missing, {repeated} repeated; got {got:?}\n{}",
        w.err().join("\n")
    );
}

/// A witness on `--mode events`; `ticks` 0..150 appended to the events file,
/// then `change` applied to it, then 150..300: all 300 printed once, and
/// the change named on stderr with the host and the file. With `at_once`,
/// also a change right behind an append (lossless only when the change
/// keeps the old bytes somewhere: a rename or a delete, not a truncation).
fn survives(change: impl Fn(&Path), said: &str, at_once: bool) {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "", "");
    let f = r.logs.join("events-2026-12.jsonl");
    let w = follow_ready(&h, &r, &f);
    append_range(&f, "tick", 0, 150);
    assert!(
        w.wait_count("tick", 150, Duration::from_secs(60)),
        "{}",
        w.dump()
    );
    change(&f);
    append_range(&f, "tick", 150, 300);
    // Bounded: the 150 new events, or 30 s.
    w.wait_count("tick", 300, Duration::from_secs(30));
    assert_exactly_once(&w, 300, said);
    if at_once {
        // The probe may not have read the last lines before the change.
        append_range(&f, "tick", 300, 320);
        change(&f);
        append_range(&f, "tick", 320, 340);
        w.wait_count("tick", 340, Duration::from_secs(30));
        assert_exactly_once(&w, 340, said);
    }
    let ok = support::wait_until(Duration::from_secs(10), || {
        w.err()
            .iter()
            .any(|l| l.contains("'pi'") && l.contains("events-2026-12.jsonl") && l.contains(said))
    });
    assert!(
        ok,
        "no stderr line naming 'pi', the file and '{said}':\n{}",
        w.dump()
    );
}

#[test]
fn a_rotated_events_file_loses_nothing_and_is_named_on_stderr() {
    // mv events-2026-12.jsonl events-2026-12.jsonl.rotated; : > events-2026-12.jsonl
    survives(
        |f| {
            std::fs::rename(f, f.with_extension("jsonl.rotated")).unwrap();
            std::fs::File::create(f).unwrap();
        },
        "replaced",
        true,
    );
}

#[test]
fn a_truncated_events_file_loses_nothing_and_is_named_on_stderr() {
    // : > events-2026-12.jsonl
    survives(
        |f| {
            std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(f)
                .unwrap();
        },
        "truncated",
        false,
    );
}

#[test]
fn a_deleted_and_recreated_events_file_loses_nothing_and_is_named_on_stderr() {
    // rm events-2026-12.jsonl (the next append creates it again; the
    // filesystem may hand it the same inode number)
    survives(|f| std::fs::remove_file(f).unwrap(), "replaced", true);
}

/// `probe --stream` run here on a bare log_dir, its stdin kept open.
fn local_probe(logs: &Path) -> Watch {
    let mut c = Command::new(BIN);
    c.args([
        "--config",
        "/nonexistent/agent-runner.toml",
        "probe",
        "--stream",
        "--interval",
        "1",
        "--backlog",
        "0",
        "--log-dir",
    ])
    .arg(logs);
    Watch::start(c)
}

/// The `seq`s of the `event` frames a probe printed.
fn frame_seqs(w: &Watch) -> Vec<u64> {
    w.out()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f["type"] == "event")
        .filter_map(|f| serde_json::from_str::<Value>(f["line"].as_str()?).ok())
        .filter(|v| v["event"] == "tick")
        .filter_map(|v| v["seq"].as_u64())
        .collect()
}

#[test]
fn a_file_renamed_away_and_back_is_not_sent_again() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let f = logs.join("events-2026-12.jsonl");
    append(&f, "history", 0);
    let p = local_probe(&logs);
    assert!(
        support::wait_until(Duration::from_secs(30), || p
            .out()
            .iter()
            .any(|l| l.contains("\"snapshot\""))),
        "{}",
        p.dump()
    );
    append_range(&f, "tick", 0, 20);
    assert!(
        support::wait_until(Duration::from_secs(30), || frame_seqs(&p).len() >= 20),
        "{}",
        p.dump()
    );
    let away = logs.join("away.jsonl.tmp");
    std::fs::rename(&f, &away).unwrap();
    // Long enough for the probe to see the file gone (it is woken by the
    // rename and re-reads at least every snapshot).
    std::thread::sleep(Duration::from_millis(2500));
    std::fs::rename(&away, &f).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    append(&f, "tick", 20);
    assert!(
        support::wait_until(Duration::from_secs(30), || frame_seqs(&p).contains(&20)),
        "{}",
        p.dump()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let got = frame_seqs(&p);
    assert_eq!(
        got,
        (0..21).collect::<Vec<u64>>(),
        "the file was sent again after it came back\n{}",
        p.dump()
    );
}

#[test]
fn a_clock_stepping_back_and_forward_across_months_loses_nothing() {
    // A Pi without an RTC: its month files are named by a wall clock that
    // steps, back to 2025-06 and forward to 2026-02, while connected and
    // during an outage.
    let mut h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "", "");
    let _ = witness_config(&h);
    let jan = r.logs.join("events-2026-01.jsonl");
    let jun = r.logs.join("events-2025-06.jsonl");
    let feb = r.logs.join("events-2026-02.jsonl");
    let w = follow_ready(&h, &r, &jan);
    append_range(&jan, "tick", 0, 40);
    assert!(
        w.wait_count("tick", 40, Duration::from_secs(60)),
        "{}",
        w.dump()
    );
    // The clock steps back: a file named before the one being followed.
    append_range(&jun, "tick", 40, 80);
    append_range(&feb, "tick", 80, 120);
    w.wait_count("tick", 120, Duration::from_secs(30));
    assert_exactly_once(&w, 120, "clock step while connected");
    // An outage, during which the clock steps back again; then forward.
    h.pi.kill_all();
    append_range(&jun, "tick", 120, 140);
    append_range(&jan, "tick", 140, 160);
    std::thread::sleep(Duration::from_secs(2));
    let mut back = respawn(&h.pi);
    append_range(&feb, "tick", 160, 180);
    w.wait_count("tick", 180, Duration::from_secs(90));
    let _ = back.kill();
    let _ = back.wait();
    assert_exactly_once(&w, 180, "clock step during an outage");
}

/// The probe's resident set, in KiB.
fn vm_rss_kib(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Append a line of about `bytes` bytes (a `huge` event) with one write.
fn append_huge(path: &Path, bytes: usize, seq: u64) {
    let mut line = format!(
        "{{\"ts\": \"{}\", \"event\": \"huge\", \"round_num\": 1, \"seq\": {seq}, \"blob\": \"",
        agent_runner::timefmt::now_iso_ms()
    )
    .into_bytes();
    line.resize(bytes, b'x');
    line.extend_from_slice(b"\"}\n");
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(&line)
        .unwrap();
}

#[test]
fn a_huge_line_is_stubbed_and_the_probe_gives_its_memory_back() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "", "");
    let f = r.logs.join("events-2026-12.jsonl");
    let w = follow_ready(&h, &r, &f);
    let ok = support::wait_until(Duration::from_secs(20), || probes_for(&r.config).len() == 1);
    assert!(ok, "probe not found: {:?}", probes_for(&r.config));
    let probe = probes_for(&r.config)[0];
    // Settle: a few snapshots, then the baseline.
    std::thread::sleep(Duration::from_secs(3));
    let base = vm_rss_kib(probe);
    assert!(base > 0, "no VmRSS for {probe}");
    let mut tick = 0;
    for mb in [5usize, 100] {
        append_huge(&f, mb << 20, mb as u64);
        append(&f, "tick", tick);
        tick += 1;
        assert!(
            w.wait_count("tick", tick as usize, Duration::from_secs(60)),
            "{}",
            w.dump()
        );
        // The huge line came through as a stub naming its size.
        let stub = w
            .out()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| {
                v["event"] == "huge"
                    && v["original_bytes"]
                        .as_u64()
                        .is_some_and(|b| b >= (mb << 20) as u64 && b < (mb << 20) as u64 + 4096)
            });
        let stub = stub.unwrap_or_else(|| panic!("no stub for the {mb} MB line: {}", w.dump()));
        assert_eq!(stub["truncated"], true, "{stub}");
        let t = Instant::now();
        let mut rss = vm_rss_kib(probe);
        while rss > base + 2048 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(250));
            rss = vm_rss_kib(probe);
        }
        eprintln!("probe VmRSS: {base} KiB before, {rss} KiB after a {mb} MB line");
        assert!(
            rss <= base + 2048,
            "probe VmRSS {base} KiB before, {rss} KiB 5 s after a {mb} MB line"
        );
    }
}

#[test]
fn stdout_carries_only_json_lines_beside_an_unreachable_host() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "p", "", "");
    let f = r.logs.join("events-2026-12.jsonl");
    let port = sshd::free_port();
    let cfg2 = h.root.path().join("ssh_config2");
    let base = std::fs::read_to_string(&h.client_config).unwrap();
    std::fs::write(
        &cfg2,
        format!("{base}\nHost dead\n  HostName 127.0.0.1\n  Port {port}\n  ConnectTimeout 2\n"),
    )
    .unwrap();
    let fleet = h.root.path().join("hosts.toml");
    std::fs::write(
        &fleet,
        format!(
            "[defaults]\nconfig = \"{}\"\ninterval_s = 1\ntolerance_s = 2\n\n[[host]]\nalias = \"pi\"\n\n[[host]]\nalias = \"dead\"\n",
            r.config.display()
        ),
    )
    .unwrap();
    let modes: [&[&str]; 3] = [
        &["--mode", "events"],
        &["--mode", "events", "--json"],
        &["--json"],
    ];
    for (i, mode) in modes.iter().enumerate() {
        let mut args = vec!["--fleet", fleet.to_str().unwrap()];
        args.extend(["--ssh-config", cfg2.to_str().unwrap()]);
        args.extend(mode.iter().copied());
        let w = Watch::start(monitor(&h, &args));
        let events = mode.contains(&"events");
        // The dead host goes past its tolerance; pi relays events meanwhile.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut n = 0;
        let said = |w: &Watch| {
            w.out()
                .iter()
                .chain(w.err().iter())
                .any(|l| l.contains("host_unreachable") && l.contains("dead"))
        };
        while !(said(&w) && (!events || !w.seqs("tick").is_empty())) {
            assert!(Instant::now() < deadline, "mode {mode:?}: {}", w.dump());
            append(&f, "tick", i as u64 * 1000 + n);
            n += 1;
            std::thread::sleep(Duration::from_millis(300));
        }
        for l in w.out() {
            let v: Value = serde_json::from_str(&l)
                .unwrap_or_else(|e| panic!("mode {mode:?}: stdout line is not JSON ({e}): {l}"));
            assert!(v.is_object(), "mode {mode:?}: {l}");
            if events {
                assert!(
                    v.get("event").is_some() && v.get("type").is_none(),
                    "mode {mode:?}: not a relayed event line: {l}"
                );
            }
        }
        if events {
            assert!(
                w.err()
                    .iter()
                    .any(|l| l.contains("dead") && l.contains("host_unreachable")),
                "mode {mode:?}: the unreachable host is not named on stderr\n{}",
                w.dump()
            );
        }
    }
}

/// A bare project config whose log_dir is `logs`, in `dir`.
fn project_config(dir: &Path, logs: &Path) -> std::path::PathBuf {
    let cfg = dir.join("agent-runner.toml");
    std::fs::write(
        &cfg,
        format!(
            "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = \".\"\nlog_dir = \"{}\"\n\n[prompt]\nfile = \"prompts/main.md\"\n",
            logs.display()
        ),
    )
    .unwrap();
    cfg
}

/// `agent-runner events ARGS` on a bare project config.
fn events_cmd(dir: &Path, logs: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env("HOME", dir)
        .arg("--config")
        .arg(project_config(dir, logs))
        .arg("events")
        .args(args);
    c
}

/// `events --kind tick --tail` on a bare project config.
fn events_tail(dir: &Path, logs: &Path, extra: &[&str]) -> Watch {
    let mut c = events_cmd(dir, logs, &["--kind", "tick", "--tail"]);
    c.args(extra);
    Watch::start(c)
}

#[test]
fn events_tail_follows_rotation_and_clock_steps_and_never_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let jan = logs.join("events-2026-01.jsonl");
    let jun = logs.join("events-2025-06.jsonl");
    let feb = logs.join("events-2026-02.jsonl");
    append(&jan, "history", 0);
    let cursor = format!(
        "events-2026-01.jsonl:{}",
        std::fs::metadata(&jan).unwrap().len()
    );
    // Resumed from an old-form cursor, as a user's script would.
    let w = events_tail(tmp.path(), &logs, &["--since", &cursor]);
    std::thread::sleep(Duration::from_millis(1000));
    append_range(&jan, "tick", 0, 10);
    assert!(
        w.wait_count("tick", 10, Duration::from_secs(30)),
        "{}",
        w.dump()
    );
    append_range(&jun, "tick", 10, 20);
    append_range(&feb, "tick", 20, 30);
    w.wait_count("tick", 30, Duration::from_secs(10));
    assert_exactly_once(&w, 30, "clock step");
    // Renamed away and back: nothing printed again.
    let away = logs.join("away.tmp");
    std::fs::rename(&feb, &away).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::rename(&away, &feb).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    // Rotated: the new file from its start.
    std::fs::rename(&feb, logs.join("events-2026-02.jsonl.1")).unwrap();
    append_range(&feb, "tick", 30, 40);
    w.wait_count("tick", 40, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    assert_exactly_once(&w, 40, "renamed away and back, then rotated");
}

#[test]
fn the_local_readers_give_a_huge_line_as_a_stub_and_stay_small() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let f = logs.join("events-2026-12.jsonl");
    append(&f, "tick", 0);
    append_huge(&f, 5 << 20, 0);
    append(&f, "tick", 1);
    // Read backwards (`--window`) and forwards (`--since`).
    for extra in [["--window", "3"], ["--since", "events-2026-12.jsonl:0"]] {
        let mut args = vec!["--kind", "tick,huge"];
        args.extend(extra);
        let o = events_cmd(tmp.path(), &logs, &args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{extra:?}");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.len() < 4096, "{extra:?}: {} bytes printed", text.len());
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{extra:?}: {text}");
        assert_eq!(lines[1]["event"], "huge");
        assert_eq!(lines[1]["truncated"], true);
    }
    // Followed: a 100 MB line, then a tick; the follower stays small.
    let w = Watch::start(events_cmd(
        tmp.path(),
        &logs,
        &["--kind", "tick,huge", "--tail"],
    ));
    std::thread::sleep(Duration::from_millis(1000));
    let pid = w.child.id() as i32;
    let base = vm_rss_kib(pid);
    append_huge(&f, 100 << 20, 0);
    append(&f, "tick", 2);
    assert!(
        w.wait_count("tick", 1, Duration::from_secs(60)),
        "{}",
        w.dump()
    );
    let rss = vm_rss_kib(pid);
    eprintln!("events --tail VmRSS: {base} KiB before, {rss} KiB after a 100 MB line");
    assert!(
        rss <= base + 4096,
        "events --tail VmRSS {base} KiB before, {rss} KiB after a 100 MB line"
    );
    assert!(w.out().iter().all(|l| l.len() < 4096));
    assert!(
        w.out()
            .iter()
            .any(|l| l.contains("\"truncated\": true") || l.contains("\"truncated\":true")),
        "{}",
        w.dump()
    );
}

#[test]
fn a_probe_resumes_from_an_original_cursor_and_sends_both_forms() {
    // An older witness sends and reads the original cursor form; this
    // witness reads `at` and resumes from the `position` frame.
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let f = logs.join("events-2026-12.jsonl");
    append_range(&f, "tick", 0, 3);
    let off = std::fs::metadata(&f).unwrap().len();
    append_range(&f, "tick", 3, 5);
    let o = Command::new(BIN)
        .args(["--config", "/nonexistent/agent-runner.toml", "probe"])
        .arg("--log-dir")
        .arg(&logs)
        .arg("--since")
        .arg(format!("events-2026-12.jsonl:{off}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let frames: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames[0]["features"], serde_json::json!(["position"]));
    let events: Vec<&Value> = frames.iter().filter(|f| f["type"] == "event").collect();
    assert_eq!(events.len(), 2, "{frames:?}");
    let len = std::fs::metadata(&f).unwrap().len();
    let last = events[1];
    assert_eq!(last["cursor"], format!("events-2026-12.jsonl:{len}"));
    let at = last["at"].as_str().unwrap();
    let c: agent_runner::state::reader::Cursor = at.parse().unwrap();
    assert_eq!((c.offset, c.id.is_some()), (len, true), "{at}");
    let pos = frames
        .iter()
        .find(|f| f["type"] == "position")
        .and_then(|f| f["position"].as_str())
        .unwrap();
    let p: agent_runner::state::reader::Position = pos.parse().unwrap();
    assert_eq!(p.cursors(), [c]);
    // Resumed from that position after a rotation: the new file only.
    std::fs::rename(&f, logs.join("old.1")).unwrap();
    append_range(&f, "tick", 5, 7);
    let o = Command::new(BIN)
        .args(["--config", "/nonexistent/agent-runner.toml", "probe"])
        .arg("--log-dir")
        .arg(&logs)
        .args(["--since", pos])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let seqs: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|f| f["type"] == "event")
        .filter_map(|f| serde_json::from_str::<Value>(f["line"].as_str()?).ok())
        .filter_map(|v| v["seq"].as_u64())
        .collect();
    assert_eq!(seqs, vec![5, 6], "{text}");
    assert!(text.contains("\"type\":\"notice\""), "{text}");
}
