//! Stale `index.lock` cleanup (0.3 delta §3.14): a git the round had to kill
//! at its deadline cannot remove its own `.git/index.lock`, and every later
//! git would refuse to run; the round removes it and records
//! `stale_index_lock_cleared {lock_path, round_num}`. A lock older than the
//! killed git (someone else's) is left alone.

use crate::support::*;
use std::time::Duration;

fn real_git() -> String {
    let o = std::process::Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!p.is_empty(), "git is not on PATH");
    p
}

/// A `git` first on PATH that takes the index lock and hangs on `stash list`
/// (the round's first stash command), and is the real git otherwise.
fn hanging_git(p: &Project) -> std::path::PathBuf {
    let bin = p.tmp.path().join("fakebin");
    std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    let git = real_git();
    let script = format!(
        "#!/bin/sh\nif [ \"$1 $2\" = \"stash list\" ]; then\n  touch \"$({git} rev-parse --git-dir)/index.lock\"\n  exec sleep 60\nfi\nexec {git} \"$@\"\n"
    );
    let path = bin.join("git");
    crate::support::write_exec(&path, script);
    bin
}

#[test]
fn a_killed_gits_index_lock_is_removed_and_recorded() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; echo work > new.txt; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    git(&p.dir, &["add", "agent-runner.toml"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    let bin = hanging_git(&p);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = std::time::Instant::now();
    let o = p
        .cmd(&["round"])
        .env("PATH", path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(40));
    let lock = p.dir.join(".git/index.lock");
    assert!(!lock.exists(), "the killed git's index.lock is still there");
    let c = p.events_of("stale_index_lock_cleared");
    assert_eq!(c.len(), 1, "{:?}", p.kinds());
    assert_eq!(payload_keys(&c[0]), ["lock_path", "round_num"]);
    assert_eq!(c[0]["round_num"], 1);
    assert!(
        c[0]["lock_path"]
            .as_str()
            .is_some_and(|l| l.ends_with(".git/index.lock")),
        "{}",
        c[0]
    );
    // The stash failed this round (recorded), and git works again.
    assert_eq!(p.events_of("orphan_stash_failed").len(), 1);
    git(&p.dir, &["stash", "push", "-u", "-q", "-m", "after"]);
}

#[test]
fn a_lock_older_than_the_round_is_left_alone() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; echo work > new.txt; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    git(&p.dir, &["add", "agent-runner.toml"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    // Someone else's lock (a commit message being edited), from before.
    let lock = p.dir.join(".git/index.lock");
    std::fs::write(&lock, "").unwrap_or_else(|e| panic!("{e}"));
    let old = std::time::SystemTime::now() - Duration::from_secs(120);
    let f = std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap_or_else(|e| panic!("{e}"));
    f.set_modified(old).unwrap_or_else(|e| panic!("{e}"));
    drop(f);
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    assert!(lock.exists(), "another process's lock was removed");
    assert!(p.events_of("stale_index_lock_cleared").is_empty());
}
