//! A bash "agent" driven in-process through `round::process::run`: the
//! script is written into its own temp dir (`$OUT`), and the helpers read
//! back what it wrote and check the whole tree is gone. Shared by
//! `round_process` and the own-process test in `tests/signal_self.rs`.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use agent_runner::round::process::{run, Observation, Outcome, SpawnSpec, StopSignal, WaitPolicy};
use agent_runner::sys::proc;

/// Slack for a loaded machine on top of the budget and grace.
pub const SLACK: Duration = Duration::from_secs(5);

pub struct Agent {
    pub dir: tempfile::TempDir,
    pub spec: SpawnSpec,
}

/// A bash agent running `body`; `$OUT` is the temp dir.
pub fn agent(body: &str) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("agent.sh");
    std::fs::write(
        &script,
        format!("#!/bin/bash\nOUT='{}'\n{body}\n", dir.path().display()),
    )
    .unwrap();
    let spec = SpawnSpec {
        argv: vec!["bash".into(), script.display().to_string()],
        env: Vec::new(),
        cwd: dir.path().to_path_buf(),
        stdin: None,
        log_path: dir.path().join("logs").join("round-1.log"),
    };
    Agent { dir, spec }
}

pub fn policy(budget_s: u64) -> WaitPolicy {
    let mut p = WaitPolicy::with_budget(Duration::from_secs(budget_s));
    p.term_grace = Duration::from_secs(2);
    p
}

pub fn go(a: &Agent, p: &WaitPolicy) -> (Outcome, Vec<Observation>, Duration) {
    let stop = StopSignal::new().unwrap();
    go_with(a, p, &stop)
}

pub fn go_with(
    a: &Agent,
    p: &WaitPolicy,
    stop: &StopSignal,
) -> (Outcome, Vec<Observation>, Duration) {
    let mut obs = Vec::new();
    let t = Instant::now();
    let out = run(&a.spec, p, stop, &mut |o| obs.push(o)).unwrap();
    (out, obs, t.elapsed())
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

pub fn pids_in(p: &Path) -> Vec<i32> {
    read(p)
        .split_whitespace()
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("pid '{s}' in {}", p.display()))
        })
        .collect()
}

/// Wait (bounded) until `file` has at least `n` whitespace-separated words.
pub fn wait_words(file: &Path, n: usize) {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if std::fs::read_to_string(file).is_ok_and(|s| s.split_whitespace().count() >= n) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never got {n} entries", file.display());
}

pub fn assert_all_dead(pids: &[i32]) {
    for &pid in pids {
        assert!(
            !proc::alive(pid),
            "pid {pid} of the agent tree is still alive: {:?}",
            proc::stat(pid)
        );
    }
}
