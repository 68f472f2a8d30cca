//! Supervisor faults lose nothing (issue 14, point 7), each shown with the
//! fault made real: a full disk (a small tmpfs), libc calls seen or failed
//! through an `LD_PRELOAD` shim, real git with its stash list cleared and its
//! objects pruned.

use crate::support::fault::{shim, shim_log, Tmpfs};
use crate::support::*;
use agent_runner::state::{EventLog, Kind, Layout};

/// A full disk tears an event line (a short write); once space is back, the
/// next event starts on a line of its own, so only the torn event is lost.
#[test]
fn an_event_after_a_short_write_on_a_full_disk_starts_a_fresh_line() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let fs = Tmpfs::mount(&tmp.path().join("small"), "64k");
    let log = EventLog::new(Layout::new(&fs.dir));
    let first = log
        .emit(
            Kind::HookFailed,
            agent_runner::fields! {"hook_name" => "first"},
        )
        .unwrap_or_else(|e| panic!("first event: {e}"));
    // Fill every free page: only the events file's last page has room left.
    let filler = fs.dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap_or_else(|e| panic!("{e}"));
        let block = [b'f'; 4096];
        while f.write_all(&block).is_ok() {}
    }
    let torn = log.emit(
        Kind::HookFailed,
        agent_runner::fields! {"hook_name" => "torn", "error_message" => "x".repeat(6000)},
    );
    assert!(torn.is_err(), "the disk was not full: {torn:?}");
    let text = std::fs::read_to_string(&first).unwrap_or_default();
    assert!(!text.ends_with('\n'), "no short write happened: {text:?}");
    // Space comes back; the next event must not merge with the torn line.
    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("{e}"));
    log.emit(
        Kind::HookFailed,
        agent_runner::fields! {"hook_name" => "after"},
    )
    .unwrap_or_else(|e| panic!("event after freeing space: {e}"));
    let text = std::fs::read_to_string(&first).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let names: Vec<&str> = parsed
        .iter()
        .filter_map(|e| e["hook_name"].as_str())
        .collect();
    assert_eq!(names, ["first", "after"], "lines: {lines:?}");
    assert_eq!(
        lines.len(),
        3,
        "only the torn line fails to parse: {lines:?}"
    );
    assert!(text.ends_with('\n'));
}

fn round_under_shim(p: &Project, env: &[(&str, &str)]) -> (i32, std::process::Output) {
    let so = shim(p.tmp.path());
    let mut c = p.cmd(&["round"]);
    c.env("LD_PRELOAD", &so)
        .env("SHIM_LOG", p.tmp.path().join("shim.log"));
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = child.id() as i32;
    (
        pid,
        child.wait_with_output().unwrap_or_else(|e| panic!("{e}")),
    )
}

/// A durable state write is tmp + fsync + rename + fsync of the directory:
/// without the last, a power cut can leave the old name (or none).
#[test]
fn atomic_state_writes_fsync_the_directory_after_the_rename() {
    let p = Project::new();
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    let (pid, o) = round_under_shim(&p, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let logs = std::fs::canonicalize(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    let calls: Vec<(String, String)> = shim_log(&p.tmp.path().join("shim.log"))
        .into_iter()
        .filter(|(p, _, _)| *p == pid)
        .map(|(_, c, path)| (c, path))
        .collect();
    let status = logs.join("status.json").display().to_string();
    let at = calls
        .iter()
        .rposition(|(c, path)| c == "rename" && *path == status)
        .unwrap_or_else(|| panic!("no rename onto status.json: {calls:?}"));
    assert_eq!(
        calls.get(at + 1),
        Some(&("fsync".to_string(), logs.display().to_string())),
        "the rename onto status.json is not followed by an fsync of its directory: {calls:?}"
    );
}

/// `flock` failing for a reason other than contention (here ENOLCK, as on an
/// NFS mount without a lock daemon) is an error naming the lock file, never
/// "another agent-runner is holding it".
#[test]
fn a_flock_error_is_reported_as_an_error_not_as_held() {
    let p = Project::new();
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    let enolck = libc::ENOLCK.to_string();
    let (_, o) = round_under_shim(&p, &[("SHIM_FLOCK_ERRNO", &enolck)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("holding"), "reported as held: {err}");
    assert!(
        err.contains("cannot lock") && err.contains("agent-runner.lock"),
        "{err}"
    );
    assert!(err.contains("No locks available"), "{err}");
    assert!(
        p.events_of("agent_spawn").is_empty(),
        "the round ran unlocked"
    );

    // serve's own lock, likewise
    let so = shim(p.tmp.path());
    let o = p
        .cmd(&["serve", "--max-rounds", "1"])
        .env("LD_PRELOAD", &so)
        .env("SHIM_FLOCK_ERRNO", &enolck)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("already running"), "reported as held: {err}");
    assert!(
        err.contains("cannot lock") && err.contains("serve.lock"),
        "{err}"
    );
}

/// An orphan stash is pinned under `refs/agent-runner/orphans/R<N>`: with
/// the stash list cleared and unreachable objects pruned, the work is still
/// there and `git stash apply` brings it back.
#[test]
fn an_orphan_stash_survives_stash_clear_and_gc() {
    let p = Project::new();
    let a = p.agent(
        "dirty.sh",
        "cat >/dev/null; echo \"work of round $AGENT_RUNNER_ROUND_NUM\" > work.txt; echo edit >> README.md; exit 0",
    );
    p.config(&a, "round_budget_s = 30", "");
    let o = p.run(&["round"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stashed = p.events_of("orphan_stashed");
    assert_eq!(stashed.len(), 1, "{:?}", p.kinds());
    let sha = stashed[0]["ref"].as_str().unwrap_or_default().to_string();
    git(&p.dir, &["stash", "clear"]);
    git(&p.dir, &["reflog", "expire", "--expire=now", "--all"]);
    git(&p.dir, &["gc", "-q", "--prune=now"]);
    assert!(git(&p.dir, &["stash", "list"]).trim().is_empty());
    let pinned = git(&p.dir, &["rev-parse", "refs/agent-runner/orphans/R1"]);
    assert_eq!(pinned.trim(), sha);
    // untracked files live in the stash's third parent
    let work = git(&p.dir, &["show", "refs/agent-runner/orphans/R1^3:work.txt"]);
    assert_eq!(work, "work of round 1\n");
    // the runbook's restore
    git(&p.dir, &["stash", "apply", "refs/agent-runner/orphans/R1"]);
    assert_eq!(
        std::fs::read_to_string(p.dir.join("work.txt")).unwrap_or_default(),
        "work of round 1\n"
    );
    assert!(std::fs::read_to_string(p.dir.join("README.md"))
        .unwrap_or_default()
        .ends_with("edit\n"));
}

/// `cancel` proves the round's pid by its start time: a lock sidecar naming a
/// live process with another start time (a recycled pid) is not signalled.
#[test]
fn cancel_never_signals_a_recycled_round_pid() {
    let p = Project::new();
    let a = p.agent("ok.sh", "exit 0");
    p.config(&a, "", "");
    let mut victim = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        p.log_dir().join("agent-runner.lock.holder"),
        format!(
            "{{\"pid\": {}, \"started_at\": \"2026-01-01T00:00:00.000Z\", \"cmdline\": \"agent-runner round\", \"create_time\": 12345.0}}",
            victim.id()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = p.run(&["cancel"]);
    let still = alive(victim.id() as i32);
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(still, "cancel signalled an unrelated process");
    assert_ne!(o.status.code(), Some(0));
}

/// The monitor's auto-stop signals the pid in serve.pid only while its start
/// time proves it is the serve that wrote the file.
#[test]
fn auto_stop_signals_only_the_serve_its_pid_file_proves() {
    use agent_runner::witness::monitor::{PidFileStop, StopAction};
    use std::os::unix::process::ExitStatusExt;
    let f = crate::support::logdir::Fixture::new();
    let cfg = f.config();
    let mut serve = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = serve.id() as i32;
    let t = agent_runner::sys::proc::create_time(pid).unwrap_or_else(|| panic!("no start time"));
    let pid_file = f.logs.join("serve.pid");
    std::fs::write(
        &pid_file,
        format!("{{\"pid\": {pid}, \"create_time\": {}}}", t + 1000.0),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = PidFileStop.request_stop(&cfg);
    assert!(r.is_err(), "{r:?}");
    assert!(alive(pid), "a recycled pid was signalled");
    std::fs::write(
        &pid_file,
        format!("{{\"pid\": {pid}, \"create_time\": {t}}}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = PidFileStop.request_stop(&cfg);
    assert!(r.is_ok(), "{r:?}");
    let st = serve.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st.signal(), Some(libc::SIGTERM));
}
