//! `peek` (document, `--round`, `--select`, text form) and `events` (window,
//! `--since` cursor/time, argument errors with exit 2).

use crate::support::logdir;

use agent_runner::observe::events::{run as events_run, EventsQuery};
use agent_runner::observe::peek::{self, PeekError};
use agent_runner::observe::state::PeekOptions;
use agent_runner::snapshot::RECENT_EVENTS;
use logdir::Fixture;
use serde_json::{json, Value};

/// `peek`'s options plus `--select`.
#[derive(Default)]
struct PeekArgs {
    opts: PeekOptions,
    select: Option<String>,
}

fn peek_args() -> PeekArgs {
    PeekArgs::default()
}

fn document(cfg: &agent_runner::config::Config, a: &PeekArgs) -> Result<Value, PeekError> {
    peek::document(cfg, &a.opts, a.select.as_deref())
}

fn fixture_with_rounds() -> Fixture {
    let f = Fixture::new();
    for n in 1..=12u64 {
        let cause = if n == 5 { "timeout" } else { "clean" };
        f.round(
            n,
            2000 - n as i64 * 100,
            0,
            cause,
            &format!("round {n} line 1\nround {n} done\n"),
        );
    }
    f.event(
        30,
        "round_start",
        json!({"round_num": 13, "phase": "review"}),
    );
    f.metric(20, json!({"mem_total_mb": 8000, "mem_available_mb": 3000, "disk_used_pct": 40.5, "disk_free_gb": 100.0, "load_1m": 0.5}));
    std::fs::write(
        f.logs.join("status.json"),
        r#"{"round_num": 12, "running": false, "last_exit_code": 0, "last_duration_s": 1.5}"#,
    )
    .unwrap();
    f
}

#[test]
fn peek_fills_current_round_and_recent_rounds() {
    let f = fixture_with_rounds();
    let doc = document(&f.config(), &peek_args()).unwrap();
    let cur = &doc["current_round"];
    assert_eq!(cur["round_num"], json!(13));
    assert_eq!(cur["phase"], json!("review"));
    assert_eq!(cur["running"], json!(true));
    assert!(cur["duration_so_far_s"].as_f64().unwrap() >= 29.0);
    let recent = doc["recent_rounds"].as_array().unwrap();
    assert_eq!(recent.len(), 10);
    assert_eq!(recent[9]["round_num"], json!(13));
    assert_eq!(recent[1]["round_num"], json!(5));
    assert_eq!(recent[1]["exit_cause"], json!("timeout"));
    assert_eq!(doc["status"]["round_num"], json!(12));
    assert_eq!(doc["system"]["disk_used_pct"], json!(40.5));
    assert_eq!(doc["defenses"].as_array().unwrap().len(), 15);
    assert_eq!(doc["recent_events"], json!([]));

    let text = peek::render(&doc, false, false);
    assert!(
        text.contains("round     R13 [review] running for"),
        "{text}"
    );
    assert!(text.contains("R5      timeout"), "{text}");
    assert!(text.contains("disk 40.5% used"), "{text}");
    assert!(
        !text.contains("{\""),
        "no JSON/debug dumps in the text form:\n{text}"
    );
    let json_text = peek::render(&doc, true, false);
    assert!(json_text.starts_with("{\n  \"schema_version\""), "indent 2");
}

#[test]
fn peek_round_log_events_and_select() {
    let f = fixture_with_rounds();
    let cfg = f.config();
    let mut a = peek_args();
    a.opts.round = Some(3);
    a.opts.log = true;
    a.opts.events = Some(4);
    let doc = document(&cfg, &a).unwrap();
    assert_eq!(doc["current_round"]["round_num"], json!(3));
    assert_eq!(doc["current_round"]["running"], json!(false));
    assert_eq!(doc["current_round"]["exit_code"], json!(0));
    assert_eq!(
        doc["current_round"]["log_tail"],
        json!("round 3 line 1\nround 3 done")
    );
    assert_eq!(doc["recent_events"].as_array().unwrap().len(), 4);

    a.select = Some("defenses.0.name".into());
    let sel = document(&cfg, &a).unwrap();
    assert_eq!(sel, json!("round_budget_s"));
    assert_eq!(peek::render(&sel, true, true), "\"round_budget_s\"");
    assert_eq!(peek::render(&sel, false, true), "round_budget_s");
    a.select = Some("system.disk_used_pct".into());
    assert_eq!(
        peek::render(&document(&cfg, &a).unwrap(), false, true),
        "40.5"
    );
    a.select = Some("system.nope".into());
    let e = document(&cfg, &a).unwrap_err();
    assert!(matches!(e, PeekError::Select(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "path segment 'nope' not found in select path 'system.nope'"
    );
    a.select = Some("recent_rounds.99".into());
    assert!(document(&cfg, &a).is_err());

    a.select = None;
    a.opts.round = Some(77);
    let e = document(&cfg, &a).unwrap_err();
    assert!(e.to_string().contains("round 77 not found"), "{e}");
}

#[test]
fn peek_finds_a_round_older_than_the_recent_window() {
    let f = Fixture::new();
    f.round(1, 10_000, 2, "error", "first\n");
    for i in 0..(RECENT_EVENTS + 10) {
        f.event(
            5000,
            "round_progress",
            json!({"round_num": 2, "log_size_kb": i}),
        );
    }
    let mut a = peek_args();
    a.opts.round = Some(1);
    let doc = document(&f.config(), &a).unwrap();
    assert_eq!(doc["current_round"]["round_num"], json!(1));
    assert_eq!(doc["current_round"]["exit_code"], json!(2));
    assert_eq!(doc["current_round"]["exit_cause"], json!("error"));
}

fn ev_args(kind: &str) -> EventsQuery {
    EventsQuery {
        kind: kind.into(),
        window: None,
        tail: false,
        since: None,
    }
}

fn events_out(f: &Fixture, a: &EventsQuery) -> String {
    let mut out = Vec::new();
    events_run(&f.logs, a, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn events_window_prints_raw_lines_and_since_resumes() {
    let f = fixture_with_rounds();
    let mut a = ev_args("agent_exit, round_end ,");
    a.window = Some(3);
    let out = events_out(&f, &a);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    let raw = f.events_text();
    for l in &lines {
        assert!(raw.contains(l), "verbatim line: {l}");
    }
    assert!(lines[2].contains("\"event\": \"round_end\", \"round_num\": 12"));
    // Default window 10.
    let out = events_out(&f, &ev_args("round_start"));
    assert_eq!(out.lines().count(), 10);

    // --since TS.
    let all: Vec<Value> = raw
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ts = all
        .iter()
        .find(|e| e["event"] == "round_start" && e["round_num"] == 12)
        .unwrap()["ts"]
        .as_str()
        .unwrap()
        .to_string();
    let mut a = ev_args("round_start");
    a.since = Some(ts);
    let out = events_out(&f, &a);
    assert_eq!(out.lines().count(), 2, "{out}");

    // --since CURSOR: from just after the round 12 start.
    let tr = agent_runner::state::reader::tail_last_n(&f.logs, &["round_start"], 2).unwrap();
    let cursor = tr.lines[0].end.to_string();
    assert!(cursor.starts_with("events-") && cursor.contains(".jsonl:"));
    let mut a = ev_args("round_start,round_end");
    a.since = Some(cursor);
    let out = events_out(&f, &a);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains("\"round_end\", \"round_num\": 12"));
    assert!(lines[1].contains("\"round_start\", \"round_num\": 13"));
}

#[test]
fn events_argument_errors_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--kind", " , "],
            "--kind requires at least one non-empty event kind",
        ),
        (
            &["--kind", "a", "--window", "3", "--tail"],
            "--window and --tail are mutually exclusive",
        ),
        (
            &["--kind", "a", "--window", "3", "--since", "2026-01-01"],
            "--window and --since are mutually exclusive",
        ),
        (
            &["--kind", "a", "--since", "last tuesday"],
            "--since expects",
        ),
        (
            &["--kind", "a", "--window", "0"],
            "expects positive int (> 0), got '0'",
        ),
        (&["--window", "3"], "--kind"),
    ];
    for (args, msg) in cases {
        let out = std::process::Command::new(crate::support::BIN)
            .arg("events")
            .args(*args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    let out = std::process::Command::new(crate::support::BIN)
        .args(["peek", "--round", "abc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--round expects int or 'latest', got 'abc'")
    );
    // Remote usage errors are refused before any connection (own HOME and an
    // empty ssh config: the user's ~/.ssh is never read).
    let home = tempfile::tempdir().unwrap();
    let empty = home.path().join("ssh_config");
    std::fs::write(&empty, "").unwrap();
    for (args, msg) in [
        (
            vec!["monitor", "--host=-oProxyCommand=x", "--once"],
            "invalid host alias",
        ),
        (
            vec!["monitor", "--host", "pi", "--mode", "narrate"],
            "local only",
        ),
    ] {
        let out = std::process::Command::new(crate::support::BIN)
            .args(&args)
            .env("HOME", home.path())
            .env("AGENT_RUNNER_SSH_CONFIG", &empty)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(msg),
            "{args:?}"
        );
    }
}
