//! Secrets stay home (issue 14, point 8): what the supervisor writes is
//! readable by its user only, and round-log tails are redacted before the
//! probe sends them to another machine.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Every file and directory under `dir` (symlinks themselves excluded) with
/// its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if m.file_type().is_symlink() {
                continue;
            }
            if m.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), m.is_dir(), m.permissions().mode() & 0o777));
        }
    }
    out
}

fn assert_private(seen: &[(PathBuf, bool, u32)]) {
    let loose: Vec<String> = seen
        .iter()
        .filter(|(_, dir, mode)| *mode != if *dir { 0o700 } else { 0o600 })
        .map(|(p, _, mode)| format!("{} {mode:o}", p.display()))
        .collect();
    assert!(loose.is_empty(), "not private: {loose:?}");
}

/// `start` (pid-file mode) with a umask of 022, as a login shell has.
fn start_with_umask_022(p: &Project) -> std::process::Output {
    let mut c = Command::new("sh");
    c.args(["-c", "umask 022 && exec \"$0\" \"$@\"", BIN, "start"])
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .env_remove("AGENT_RUNNER_SKIP_STARTUP_CHECK");
    c.output().unwrap_or_else(|e| panic!("{e}"))
}

/// After a round (and during one, when the lock sidecar, the pid file and
/// the logs being written exist) every file in the log_dir is 0600 and every
/// directory we created is 0700, whatever the umask.
#[test]
fn every_file_a_served_round_writes_is_private() {
    let p = Project::new();
    let marker = p.tmp.path().join("go");
    let a = p.agent(
        "slow.sh",
        &format!(
            "cat >/dev/null; echo working; while [ ! -e {} ]; do sleep 0.1; done; exit 0",
            marker.display()
        ),
    );
    p.config(&a, "round_budget_s = 60", "");
    let o = start_with_umask_022(&p);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(20), || !p
            .events_of("agent_spawn")
            .is_empty()),
        "{:?}",
        p.kinds()
    );
    let during = modes(&p.log_dir());
    std::fs::write(&marker, "").unwrap_or_else(|e| panic!("{e}"));
    assert!(wait_until(Duration::from_secs(20), || !p
        .events_of("round_end")
        .is_empty()));
    let o = p.run(&["stop"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let after = modes(&p.log_dir());
    let names: Vec<String> = during
        .iter()
        .chain(after.iter())
        .filter_map(|(p, _, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for want in [
        "agent-runner.lock",
        "agent-runner.lock.holder",
        "serve.lock",
        "serve.pid",
        "serve.log",
        "status.json",
        "round-context.json",
        "round-1.log",
        "rounds",
    ] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    for prefix in ["events-", "metrics-", "R1-"] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no {prefix}* in {names:?}"
        );
    }
    assert_private(&during);
    assert_private(&after);
    let top = std::fs::metadata(p.log_dir()).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(top.ok(), Some(0o700), "the log_dir we created");
}

/// A log_dir the user made keeps the mode the user gave it.
#[test]
fn a_log_dir_the_user_made_keeps_its_mode() {
    let p = Project::new();
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    std::fs::create_dir(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(p.log_dir(), std::fs::Permissions::from_mode(0o750))
        .unwrap_or_else(|e| panic!("{e}"));
    let o = p.run(&["round"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let top = std::fs::metadata(p.log_dir()).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(top.ok(), Some(0o750));
    let inside = modes(&p.log_dir());
    assert!(!inside.is_empty());
    assert_private(&inside);
}

/// Round-log tails leave the host redacted: the probe's `log_tail` frames
/// carry no API key, token or private key the agent printed.
#[test]
fn log_tail_frames_are_redacted_before_they_leave_the_host() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(logs.join("rounds")).unwrap_or_else(|e| panic!("{e}"));
    let secrets = [
        "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcdEFGH",
        "sk-svcacct-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    ];
    let text = format!(
        "starting\nusing key {}\nsvc {}\ngit push with {}\n-----BEGIN PRIVATE KEY-----\n{}\n",
        secrets[0], secrets[1], secrets[2], secrets[3]
    );
    std::fs::write(logs.join("rounds/R1-20261120T120001.log"), &text)
        .unwrap_or_else(|e| panic!("{e}"));
    let (out, _) = probe_once(&logs, &logs);
    let tails: Vec<String> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|f| f["type"] == "log_tail")
        .filter_map(|f| f["text"].as_str().map(String::from))
        .collect();
    assert_eq!(tails.len(), 1, "{out}");
    assert!(tails[0].contains("starting"), "{}", tails[0]);
    assert!(tails[0].contains("<redacted>"), "{}", tails[0]);
    for s in secrets {
        assert!(!out.contains(s), "'{s}' left the host: {}", tails[0]);
    }
}
