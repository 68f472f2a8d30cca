//! `monitor --once` over log_dirs written by the REAL Python tool 0.3.14 raises
//! the same alert kinds as the Python tool's own detectors on the same data.
//!
//! Needs `/opt/pyar/bin/agent-runner` (override: `AGENT_RUNNER_PY`). Install:
//! `python3 -m venv /opt/pyar && /opt/pyar/bin/pip install cli-agent-runner==0.3.14`.

use crate::support::{git, python_tool};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python_interpreter(tool: &Path) -> PathBuf {
    let py = tool.with_file_name("python");
    assert!(
        py.is_file(),
        "no python next to '{}' (expected a venv with cli-agent-runner==0.3.14)",
        tool.display()
    );
    py
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

struct Project {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    logs: PathBuf,
    home: PathBuf,
}

const BUDGET_S: u64 = 2;
const STALE_S: u64 = 3600;

/// `init` a git project with the Python tool and point its agent at `script`.
fn project(tool: &Path, script: &str) -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("proj");
    let logs = tmp.path().join("logs");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    git(&work, &["init", "-q", "."]);
    git(&work, &["config", "user.email", "t@example.invalid"]);
    git(&work, &["config", "user.name", "t"]);
    let out = run(Command::new(tool)
        .args(["init", "--preset", "claude"])
        .current_dir(&work)
        .env("HOME", &home));
    assert!(
        out.status.success(),
        "python init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agent = tmp.path().join("agent.sh");
    crate::support::write_exec(&agent, format!("#!/bin/sh\n{script}\n"));
    let cfg_path = work.join("agent-runner.toml");
    let toml = std::fs::read_to_string(&cfg_path).unwrap();
    let start = toml.find("command = [").unwrap();
    let end = start + toml[start..].find(']').unwrap() + 1;
    let mut toml = format!(
        "{}command = [\"{}\"]{}",
        &toml[..start],
        agent.display(),
        &toml[end..]
    );
    toml = toml
        .replace(
            "log_dir = \"~/.agent-runner/proj/logs\"",
            &format!("log_dir = \"{}\"", logs.display()),
        )
        .replace(
            "round_budget_s = 1800",
            &format!("round_budget_s = {BUDGET_S}"),
        )
        .replace(
            "[monitor]\n",
            &format!("[monitor]\nsupervisor_stale_threshold_s = {STALE_S}\n"),
        );
    assert!(
        toml.contains(&logs.display().to_string()),
        "log_dir not rewritten:\n{toml}"
    );
    std::fs::write(&cfg_path, toml).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "agent-runner config"]);
    Project {
        _tmp: tmp,
        work,
        logs,
        home,
    }
}

fn rounds(tool: &Path, p: &Project, n: usize) {
    for _ in 0..n {
        let out = run(Command::new(tool)
            .arg("round")
            .current_dir(&p.work)
            .env("HOME", &p.home)
            .env("AGENT_RUNNER_SKIP_STARTUP_CHECK", "1"));
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "python round exited {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The Python tool's own detectors on the log_dir.
fn python_alerts(tool: &Path, p: &Project) -> BTreeSet<String> {
    let script = format!(
        r#"
import json
from pathlib import Path
from agent_runner import monitor as m
src = m.LocalSource(Path({logs:?}))
events = m.parse_events_from_jsonl_files(src.events_files())
metrics = m.parse_events_from_jsonl_files(src.metrics_files())
tails = m.load_round_log_tails(src.rounds_dir())
alerts = m.run_all_detectors(events=events, metrics=metrics, log_tails=tails,
    round_budget_s={BUDGET_S}, supervisor_stale_threshold_s={STALE_S}, log_dir=Path({logs:?}))
print(json.dumps(sorted(a.detector for a in alerts)))
"#,
        logs = p.logs.display().to_string()
    );
    let out = run(Command::new(python_interpreter(tool)).args(["-c", &script]));
    assert!(
        out.status.success(),
        "python detectors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<String>>(&out.stdout)
        .unwrap()
        .into_iter()
        .collect()
}

/// Ours: `agent-runner monitor --once --json` reading the Python tool's own
/// agent-runner.toml; exit 1 when there are alerts, 0 when healthy.
fn our_alerts(p: &Project) -> BTreeSet<String> {
    let out = run(Command::new(crate::support::BIN)
        .args(["monitor", "--once", "--json", "--config"])
        .arg(p.work.join("agent-runner.toml"))
        .env("HOME", &p.home));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let set: BTreeSet<String> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON alert line ({e}): {l}"));
            assert!(l.is_ascii(), "JSON lines are ASCII-escaped: {l}");
            v["detector"].as_str().unwrap().to_string()
        })
        .collect();
    let want = if set.is_empty() { 0 } else { 1 };
    assert_eq!(
        out.status.code(),
        Some(want),
        "monitor --once exit code; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    set
}

fn compare(tool: &Path, p: &Project, must_include: &str) {
    let py = python_alerts(tool, p);
    let ours = our_alerts(p);
    eprintln!("python: {py:?}\nours:   {ours:?}");
    if must_include.is_empty() {
        // Host-level detectors read the real host's samples (a busy disk moves
        // disk_used_pct by 0.1 within a second: disk_growth); both tools see
        // the same samples, so they still agree. Round-level: nothing.
        let host = |d: &String| d.starts_with("disk_") || d.starts_with("mem_");
        assert!(
            py.iter().all(host),
            "python raised round-level alerts on a healthy project: {py:?}"
        );
    } else {
        assert!(
            py.contains(must_include),
            "python did not raise {must_include}: {py:?}"
        );
    }
    assert_eq!(ours, py, "alert kinds differ on a Python-written log_dir");
}

#[test]
fn auth_failures_raise_oauth_fail_like_python() {
    let tool = python_tool();
    let p = project(&tool, "echo '401 Unauthorized'\nexit 1");
    rounds(&tool, &p, 10);
    compare(&tool, &p, "oauth_fail");
}

#[test]
fn network_failures_raise_network_fail_like_python() {
    let tool = python_tool();
    let p = project(&tool, "echo 'curl: (56) Connection reset by peer'\nexit 1");
    rounds(&tool, &p, 10);
    compare(&tool, &p, "network_fail");
}

#[test]
fn timeouts_raise_timeout_rate_like_python() {
    let tool = python_tool();
    let p = project(
        &tool,
        "if [ \"${AGENT_RUNNER_ROUND_NUM:-0}\" -le 2 ]; then sleep 30; fi\nexit 0",
    );
    rounds(&tool, &p, 10);
    compare(&tool, &p, "timeout_rate");
}

#[test]
fn stash_chains_raise_orphan_chain_like_python() {
    let tool = python_tool();
    let p = project(
        &tool,
        "echo work > \"untracked-${AGENT_RUNNER_ROUND_NUM:-x}-$$.txt\"\nexit 0",
    );
    rounds(&tool, &p, 3);
    compare(&tool, &p, "orphan_chain");
}

#[test]
fn healthy_rounds_raise_nothing_in_either_and_exit_0() {
    let tool = python_tool();
    let p = project(&tool, "echo 'all good'\nexit 0");
    rounds(&tool, &p, 2);
    compare(&tool, &p, "");
}
