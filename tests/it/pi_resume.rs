//! Cross-round session resume for the `pi` preset (0.3 delta §3.8): serve
//! keeps one session id for its lifetime and the round puts
//! `--session-id <id>` after the command; a reused id is recorded as
//! `session_resumed`, a fresh-eyes round starts a new session, a standalone
//! `round` starts cold, and a static `--session-id` in the command is refused
//! at load as the Python tool 0.3.14 refuses it.

use crate::support::*;
use std::process::Command;

/// The argv lines the fake `pi` recorded, one per round.
fn argv_lines(p: &Project) -> Vec<Vec<String>> {
    std::fs::read_to_string(p.tmp.path().join("argv.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect()
}

fn session_of(argv: &[String]) -> Option<String> {
    let i = argv.iter().position(|a| a == "--session-id")?;
    argv.get(i + 1).cloned()
}

#[test]
fn serve_resumes_pis_session_across_rounds_and_fresh_eyes_starts_a_new_one() {
    let p = Project::new();
    let log = p.tmp.path().join("argv.log");
    let a = p.agent(
        "pi",
        &format!("cat >/dev/null; echo \"$*\" >> '{}'; exit 0", log.display()),
    );
    p.config(&a, "round_budget_s = 30\nfresh_eyes_every_n = 3", "");
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    let o = p.run(&["serve", "--max-rounds", "3"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = argv_lines(&p);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let ids: Vec<String> = lines
        .iter()
        .map(|l| session_of(l).unwrap_or_else(|| panic!("no --session-id in {l:?}")))
        .collect();
    // the flag and id come first: nothing before them but the command
    assert_eq!(lines[0][0], "--session-id", "{:?}", lines[0]);
    assert_eq!(ids[0].len(), 36, "{}", ids[0]);
    assert_eq!(ids[1], ids[0], "round 2 resumes round 1's session");
    assert_ne!(
        ids[2], ids[0],
        "the fresh-eyes round 3 starts a new session"
    );
    let resumed = p.events_of("session_resumed");
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert_eq!(payload_keys(&resumed[0]), ["session_id", "phase"]);
    assert_eq!(resumed[0]["session_id"], ids[0].as_str());
    assert_eq!(resumed[0]["phase"], "");

    // A standalone round was not handed a session: it starts cold.
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    let lines = argv_lines(&p);
    assert_eq!(session_of(&lines[3]), None, "{:?}", lines[3]);
}

#[test]
fn a_static_session_id_in_pis_command_is_refused_like_python_does() {
    let p = Project::new();
    let a = p.agent("pi", "cat >/dev/null; exit 0");
    let cfg = p.config(&a, "round_budget_s = 30", "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace(
            &format!("command = [\"{}\"]", a.display()),
            &format!("command = [\"{}\", \"--session-id\", \"abc\"]", a.display()),
        )
        // 0.3.14 refuses 0 here
        .replace("restart_delay_s = 0", "restart_delay_s = 1");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let ours = p.run(&["round"]);
    let py = Command::new(python_tool())
        .arg("round")
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        py.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(ours.status.code(), Some(78));
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(err.contains("--session-id"), "{err}");
    // a preset without a resume flag may carry the token
    let b = p.agent("claude", "cat >/dev/null; exit 0");
    let text = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace(&a.display().to_string(), &b.display().to_string());
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let o = p.run(&["round"]);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("cross-round resume"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
