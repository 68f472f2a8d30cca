//! Layer 1 through the real binary: fake agents written by the tests, real
//! git, real processes and signals.

use crate::support::*;
use std::time::{Duration, Instant};

fn assert_order(p: &Project, expected: &[&str]) {
    let kinds = p.kinds();
    let mut it = kinds.iter();
    for e in expected {
        assert!(
            it.any(|k| k == e),
            "expected '{e}' in order {expected:?}, got {kinds:?}"
        );
    }
}

#[test]
fn clean_round_writes_upstream_events_status_and_agent_log() {
    let p = Project::new();
    let out = p.tmp.path().display().to_string();
    let a = p.agent("agent.sh", &format!("pwd > {out}/cwd.txt; env | grep ^AGENT_RUNNER_ | sort > \"$AGENT_RUNNER_LOG_DIR/env.txt\"; echo FOO=$FOO; echo hello from the agent; cat > /dev/null; exit 0"));
    p.config(&a, "round_budget_s = 30", "[agent.env]\nFOO = \"bar\"\n");
    let o = p.run(&["round"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_order(
        &p,
        &["round_start", "agent_spawn", "agent_exit", "round_end"],
    );
    let exit = &p.events_of("agent_exit")[0];
    assert_eq!(
        payload_keys(exit),
        [
            "round_num",
            "exit_code",
            "duration_s",
            "timed_out",
            "exit_cause"
        ]
    );
    assert_eq!(exit["exit_cause"], "clean");
    assert_eq!(exit["exit_code"], 0);
    assert_eq!(
        payload_keys(&p.events_of("round_start")[0])[..2],
        ["round_num", "phase"]
    );
    assert_eq!(
        payload_keys(&p.events_of("agent_spawn")[0]),
        ["round_num", "timeout_s"]
    );
    // the agent ran in work_dir (not the caller's cwd) with the contract's env
    let cwd = std::fs::read_to_string(p.tmp.path().join("cwd.txt")).unwrap_or_default();
    assert_eq!(
        std::fs::canonicalize(cwd.trim()).ok(),
        std::fs::canonicalize(&p.dir).ok()
    );
    let env = std::fs::read_to_string(p.log_dir().join("env.txt")).unwrap_or_default();
    assert!(env.contains("AGENT_RUNNER_ROUND_NUM=1"), "{env}");
    assert!(
        env.contains("AGENT_RUNNER_PHASE=\n") || env.contains("AGENT_RUNNER_PHASE="),
        "{env}"
    );
    // the round log holds the agent's output
    let logs: Vec<_> = std::fs::read_dir(p.log_dir().join("rounds"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(logs.len(), 1);
    let text = std::fs::read_to_string(&logs[0]).unwrap_or_default();
    assert!(
        text.contains("hello from the agent") && text.contains("FOO=bar"),
        "{text}"
    );
    let st: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.log_dir().join("status.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(st["round_num"], 1);
    assert_eq!(st["last_exit_code"], 0);
    // a second round counts on
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    assert_eq!(
        p.events_of("round_end")
            .last()
            .map(|e| e["round_num"].clone()),
        Some(serde_json::json!(2))
    );
}

#[test]
fn nonzero_exit_is_classified_error_and_network_blip_scanned() {
    let p = Project::new();
    let a = p.agent(
        "agent.sh",
        "cat >/dev/null; echo 'fetch failed: Connection reset by peer'; exit 3",
    );
    p.config(&a, "round_budget_s = 30", "");
    // the agent failed: round says so (the Python tool's contract)
    assert_eq!(p.run(&["round"]).status.code(), Some(1));
    let exit = &p.events_of("agent_exit")[0];
    assert_eq!(exit["exit_code"], 3);
    assert_eq!(exit["exit_cause"], "error");
    let blip = p.events_of("agent_network_blip");
    assert_eq!(blip.len(), 1, "{:?}", p.kinds());
    assert_eq!(blip[0]["matched"], "Connection reset");
    assert_eq!(
        payload_keys(&blip[0]),
        [
            "round_num",
            "phase",
            "matched",
            "round_duration_s",
            "exit_code",
            "timed_out"
        ]
    );
}

#[test]
fn budget_kills_a_term_ignoring_agent_and_its_setsid_grandchild() {
    let p = Project::new();
    let pids = p.tmp.path().join("pids");
    let a = p.agent(
        "stubborn.sh",
        &format!(
            "trap '' TERM\necho $$ >> {pids}\nsetsid bash -c 'trap \"\" TERM; echo $$ >> {pids}; exec sleep 1000' &\nsleep 1000 &\necho $! >> {pids}\nwhile true; do sleep 1; done",
            pids = pids.display()
        ),
    );
    p.config(&a, "round_budget_s = 2", "");
    let t = Instant::now();
    let o = p.run(&["round"]);
    let took = t.elapsed();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        took < Duration::from_secs(2 + 5 + 10),
        "round took {took:?}"
    );
    let list = read_pids(&pids);
    assert_eq!(list.len(), 3, "pids: {list:?}");
    for pid in &list {
        assert!(
            wait_until(Duration::from_secs(3), || !alive(*pid)),
            "pid {pid} survived the budget"
        );
    }
    let exit = &p.events_of("agent_exit")[0];
    assert_eq!(exit["timed_out"], true);
    assert_eq!(exit["exit_cause"], "timeout");
    let kill = &p.events_of("round_timeout_kill")[0];
    // the 0.3 key the config uses (upstream's text named round_timeout_s)
    assert_eq!(kill["reason"], "exceeded round_budget_s=2");
}

#[test]
fn a_1mib_stdin_prompt_to_an_agent_that_never_reads_ends_at_the_budget() {
    let p = Project::new();
    std::fs::write(p.dir.join("prompts/main.md"), "x".repeat(1024 * 1024))
        .unwrap_or_else(|e| panic!("{e}"));
    let a = p.agent("deaf.sh", "exec sleep 1000");
    p.config(&a, "round_budget_s = 2", "");
    let t = Instant::now();
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(2 + 5 + 8),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(p.events_of("agent_exit")[0]["exit_cause"], "timeout");
}

#[test]
fn dirty_tree_is_stashed_once_per_round_by_sha() {
    let p = Project::new();
    let a = p.agent("dirty.sh", "cat >/dev/null; echo \"round $AGENT_RUNNER_ROUND_NUM\" > work-$AGENT_RUNNER_ROUND_NUM.txt; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    // the config itself is untracked: it must never be stashed away
    for _ in 0..2 {
        assert_eq!(p.run(&["round"]).status.code(), Some(0));
    }
    let stashed = p.events_of("orphan_stashed");
    assert_eq!(stashed.len(), 2, "{:?}", p.kinds());
    assert_eq!(payload_keys(&stashed[0]), ["round_num", "ref", "reason"]);
    let list = git(&p.dir, &["stash", "list", "--format=%H %s"]);
    for (i, e) in stashed.iter().enumerate() {
        let sha = e["ref"].as_str().unwrap_or_default();
        assert_eq!(sha.len(), 40);
        let line = list
            .lines()
            .find(|l| l.starts_with(sha))
            .unwrap_or_else(|| panic!("stash {sha} not in {list}"));
        assert!(line.contains(&format!("ORPHAN R{} ts=", i + 1)), "{line}");
    }
    let dirty = p.events_of("dirty_detected");
    assert_eq!(dirty[0]["files"], serde_json::json!(["work-1.txt"]));
    let orphan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.log_dir().join("orphan-state.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(orphan["stashed_ref"], stashed[1]["ref"]);
    assert!(
        p.dir.join("agent-runner.toml").exists(),
        "the config was stashed away"
    );
    assert!(!p.dir.join("work-2.txt").exists());
}

#[test]
fn auto_commit_commits_the_agents_work() {
    let p = Project::new();
    let a = p.agent("dirty.sh", "cat >/dev/null; echo work > work.txt; exit 0");
    p.config(
        &a,
        "round_budget_s = 30",
        "[vcs]\ndirty_action = \"auto_commit\"\n",
    );
    git(&p.dir, &["add", "agent-runner.toml"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    let c = p.events_of("dirty_auto_committed");
    assert_eq!(c.len(), 1, "{:?}", p.kinds());
    assert_eq!(payload_keys(&c[0]), ["round_num", "files", "ref"]);
    assert_eq!(
        c[0]["ref"].as_str().map(String::from),
        Some(git(&p.dir, &["rev-parse", "HEAD"]).trim().to_string())
    );
    assert_eq!(
        git(&p.dir, &["log", "-1", "--format=%s"]).trim(),
        "agent-runner auto-commit: R1"
    );
    assert!(git(&p.dir, &["status", "--porcelain"]).trim().is_empty());
}

#[test]
fn a_second_round_at_once_refuses_with_the_holder_and_writes_nothing() {
    let p = Project::new();
    let a = p.agent("slow.sh", "cat >/dev/null; sleep 4; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    let mut first = p.cmd(&["round"]).spawn().unwrap_or_else(|e| panic!("{e}"));
    assert!(wait_until(Duration::from_secs(10), || p
        .log_dir()
        .join("agent-runner.lock.holder")
        .exists()));
    assert!(wait_until(Duration::from_secs(10), || p
        .kinds()
        .contains(&"agent_spawn".to_string())));
    let before = p.events().len();
    let o = p.run(&["round"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("held by PID {}", first.id())),
        "{err}"
    );
    assert!(err.contains("round"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(p.events().len(), before);
    assert!(first.wait().map(|s| s.success()).unwrap_or(false));
}

#[test]
fn startup_battery_failure_exits_78_with_events() {
    let p = Project::new();
    std::fs::write(p.dir.join("prompts/main.md"), "too short").unwrap_or_else(|e| panic!("{e}"));
    let a = p.agent("agent.sh", "exit 0");
    p.config(&a, "", "");
    let o = p.run(&["round"]);
    assert_eq!(o.status.code(), Some(78));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("STARTUP FAIL: prompt_smoke_passes: prompt is 9 bytes < 500 minimum | how-to-fix: add substantive content"), "{err}");
    let f = p.events_of("smoke_check_failed");
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0]["reason"],
        "prompt_smoke_passes: prompt is 9 bytes < 500 minimum"
    );
    assert!(p.events_of("round_start").is_empty());
}

#[test]
fn a_broken_config_exits_78_from_round() {
    let p = Project::new();
    std::fs::write(
        p.dir.join("agent-runner.toml"),
        "[agent]\ncommand = \"not-a-list\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = p.run(&["round"]);
    assert_eq!(o.status.code(), Some(78));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("agent-runner: ") && err.contains("agent-runner.toml"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// Guard of `set_diff_classification` (R2110): the dirty list is the set of
/// paths `git status --porcelain` reports, never a count of unified-diff
/// `+`/`-` lines. A rotation (same lines, new order) is a change; a rename is
/// its new path; names that look like diff markers are just names.
#[test]
fn dirty_set_is_a_set_diff() {
    let p = Project::new();
    std::fs::write(p.dir.join("old.txt"), "moved\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(p.dir.join("ring.txt"), "a\nb\nc\nd\n").unwrap_or_else(|e| panic!("{e}"));
    git(&p.dir, &["add", "old.txt", "ring.txt"]);
    git(&p.dir, &["commit", "-q", "-m", "fixtures"]);
    let a = p.agent(
        "rotate.sh",
        "cat >/dev/null\ngit mv old.txt new.txt\nprintf 'c\\nd\\na\\nb\\n' > ring.txt\necho x > ./+plus.txt\necho y > ./-minus.txt\nexit 0",
    );
    p.config(
        &a,
        "round_budget_s = 30",
        "[vcs]\ndirty_action = \"ignore\"\n",
    );
    let o = p.run(&["round"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dirty = p.events_of("dirty_detected");
    assert_eq!(dirty.len(), 1, "{:?}", p.kinds());
    let mut files: Vec<String> = dirty[0]["files"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    assert_eq!(files, ["+plus.txt", "-minus.txt", "new.txt", "ring.txt"]);
    // the premise: ring.txt's diff is a pure rotation, +/- lines that cancel
    let diff = git(&p.dir, &["diff", "-U0", "--", "ring.txt"]);
    let lines = |c: char| {
        let mut v: Vec<&str> = diff
            .lines()
            .filter(|l| l.starts_with(c) && !l.starts_with("+++") && !l.starts_with("---"))
            .map(|l| &l[1..])
            .collect();
        v.sort_unstable();
        v
    };
    assert!(!lines('+').is_empty());
    assert_eq!(lines('+'), lines('-'), "{diff}");
}
