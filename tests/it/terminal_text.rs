//! Text from a remote host never drives the terminal: control characters in
//! alert messages, and in the lines relayed by `monitor --mode events`,
//! reach stdout escaped (`\x1b`, `\r`, `\x07`, `\u{9b}`), against a real
//! OpenSSH sshd on loopback whose `agent-runner` is this build. The live
//! table's rows are checked in `src/fleet/display.rs`.

use crate::support::{sshd, BIN};

use agent_runner::detect::{Alert, AutoAction, Severity};
use serde_json::{json, Map, Value};
use sshd::Harness;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a hostile remote puts in a string field: clear screen, carriage
/// return, bell, an OSC title, and a C1 CSI.
const NASTY: &str = "\x1b[2J\rX\x07\x1b]0;owned\x07\u{9b}31m";
/// The same, as it must appear on the terminal.
const ESCAPED: &str = "\\x1b[2J\\rX\\x07\\x1b]0;owned\\x07\\u{9b}31m";

/// No control character but the line ends.
fn assert_clean(out: &str) {
    let bad: Vec<char> = out
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "raw control characters {bad:?} in:\n{out}");
}

#[test]
fn an_alert_text_line_escapes_control_characters() {
    let a = Alert {
        severity: Severity::Warning,
        detector: "anomaly_repetitive_active",
        message: format!("latest: {NASTY} on 'x'"),
        context: Map::new(),
        ts: "2026-12-01T00:00:00.000Z".into(),
        auto_action: AutoAction::None,
    };
    let line = a.to_text_line();
    assert_clean(&line);
    assert_eq!(
        line,
        format!("[WARN] anomaly_repetitive_active \u{2014} latest: {ESCAPED} on 'x'")
    );
    // The JSON form keeps the text itself (serde escapes it).
    let v: Value = serde_json::from_str(&a.to_json_line()).unwrap();
    assert_eq!(v["message"], format!("latest: {NASTY} on 'x'"));
}

/// A remote project with one event file written by hand.
struct Remote {
    logs: PathBuf,
    config: String,
}

impl Remote {
    fn new(h: &Harness) -> Remote {
        let dir = h.root.path().join("remote-p");
        let logs = dir.join("logs");
        std::fs::create_dir_all(logs.join("rounds")).unwrap();
        let config = dir.join("agent-runner.toml");
        std::fs::write(
            &config,
            format!(
                "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = \".\"\nlog_dir = \"{}\"\n\n[prompt]\nfile = \"prompts/main.md\"\n",
                logs.display()
            ),
        )
        .unwrap();
        Remote {
            logs,
            config: config.display().to_string(),
        }
    }

    fn event(&self, kind: &str, payload: Value) {
        let now = chrono::Utc::now();
        let mut m = Map::new();
        m.insert("ts".into(), json!(agent_runner::timefmt::iso_ms(now)));
        m.insert("event".into(), json!(kind));
        if let Value::Object(p) = payload {
            m.extend(p);
        }
        // Non-ASCII kept as is (the C1 character travels raw inside the
        // JSON string, as a valid event line may carry it).
        let line = agent_runner::state::pyjson::to_line(&Value::Object(m)) + "\n";
        let path = self.logs.join(format!(
            "events-{}.jsonl",
            agent_runner::timefmt::month(now)
        ));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
    }
}

fn monitor(h: &Harness, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env("HOME", &h.home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("AGENT_RUNNER_SSH_CONFIG")
        .current_dir(h.root.path())
        .args(["--config", "local.toml", "monitor", "--host", "pi"])
        .args(args);
    c
}

#[test]
fn fleet_text_lines_escape_what_a_remote_sends() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h);
    // The tool name of a repetitive-tool anomaly lands in the alert message.
    r.event("round_start", json!({"round_num": 1, "phase": null}));
    r.event(
        "anomaly_repetitive_tool",
        json!({"round_num": 1, "tool_name": NASTY, "target": "f", "count": 9, "window": 10}),
    );
    let o = monitor(&h, &["--remote-config", &r.config, "--once"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_clean(&text);
    assert!(
        text.lines().any(
            |l| l.starts_with("pi: [WARN] anomaly_repetitive_active \u{2014} ")
                && l.contains(&format!("latest: {ESCAPED} on "))
        ),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn relayed_event_lines_stay_json_with_control_characters_escaped() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h);
    let mut child = monitor(
        &h,
        &[
            "--remote-config",
            &r.config,
            "--mode",
            "events",
            "--interval",
            "1",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let out = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let l2 = Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            l2.lock().unwrap().push(l);
        }
    });
    // Events mode shows what arrives after connecting: append until one is
    // relayed (bounded: 60 tries, 30 s).
    let mut seen = None;
    for seq in 0..60 {
        r.event(
            "anomaly_repetitive_tool",
            json!({"round_num": 1, "seq": seq, "tool_name": "\u{9b}2J\u{7f}"}),
        );
        std::thread::sleep(Duration::from_millis(500));
        if let Some(l) = lines.lock().unwrap().first() {
            seen = Some(l.clone());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let line = seen.expect("no event was relayed within 30 s");
    assert_clean(&line);
    // Escaped the JSON way: the line still parses to the same value.
    assert!(line.contains("\\u009b2J\\u007f"), "{line}");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["tool_name"], "\u{9b}2J\u{7f}");
}
