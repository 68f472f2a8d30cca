//! `agent-runner demo`, the README's first command: exits 0 and its log_dir
//! holds the rounds it narrated.

use crate::support::*;

#[test]
fn demo_runs_the_scenes_it_describes() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("demo");
    let o = std::process::Command::new(BIN)
        .args(["demo", "--dir"])
        .arg(&dir)
        .env("HOME", tmp.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {out}\nstderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let p = Project {
        tmp,
        dir: dir.join("project"),
        home: dir.clone(),
    };
    let causes: Vec<String> = p
        .events_of("agent_exit")
        .iter()
        .map(|e| e["exit_cause"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(causes, ["clean", "clean", "timeout", "clean"], "{out}");
    assert_eq!(p.events_of("orphan_stashed").len(), 1, "{out}");
    assert_eq!(p.events_of("round_timeout_kill").len(), 1);
    assert_eq!(p.events_of("agent_self_terminated").len(), 1);
    // the narrative and the summary say what the log_dir holds
    for needle in [
        "round 2: stashed it away",
        "round 3: hard wall",
        "the agent asked to stop",
        "rounds: 4",
        "R3: timeout",
        "stashes: 1",
    ] {
        assert!(out.contains(needle), "narrative lacks '{needle}':\n{out}");
    }
    // nothing was lost: the stash holds round 2's work
    assert!(git(&p.dir, &["stash", "list"]).contains("ORPHAN R2"));
}
