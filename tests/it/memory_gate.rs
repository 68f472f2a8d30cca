//! The pre-round admission gate (0.3 delta §4.3) through the real binary:
//! a critical host defers the next round (`round_deferred`) until it is
//! healthy (`round_resumed`), SIGTERM still stops at once,
//! `--ignore-schedule` does not bypass it, warnings never defer; the PSI
//! tier read from a file bind-mounted over `/proc/pressure/memory` in a
//! private mount namespace (no test hook at all).

use crate::support::sysroot::{psi_text, SysRoot};
use crate::support::*;
use nix::sys::signal::Signal;
use std::process::{Child, Stdio};
use std::time::Duration;

fn serve(p: &Project, root: &SysRoot, tick_ms: Option<u64>, args: &[&str]) -> Child {
    let mut c = p.cmd(args);
    root.apply(&mut c, tick_ms);
    c.stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn wait_kind(p: &Project, child: &mut Child, kind: &str, secs: u64) {
    if !wait_until(Duration::from_secs(secs), || {
        p.kinds().iter().any(|k| k == kind)
    }) {
        let _ = child.kill();
        panic!("no {kind}: {:?}", p.kinds());
    }
}

#[test]
fn psi_critical_defers_the_round_until_healthy_even_with_ignore_schedule() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    root.psi(95.0, 70.0);
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    let mut child = serve(
        &p,
        &root,
        Some(100),
        &["serve", "--once", "--ignore-schedule"],
    );
    wait_kind(&p, &mut child, "round_deferred", 20);
    // re-checked every 3 ticks while critical: nothing spawns
    std::thread::sleep(Duration::from_millis(1500));
    assert!(p.events_of("round_start").is_empty(), "{:?}", p.kinds());
    assert!(p.events_of("agent_spawn").is_empty());
    let d = &p.events_of("round_deferred")[0];
    assert_eq!(payload_keys(d), ["severity", "signal", "message"]);
    assert_eq!(d["severity"], "critical");
    assert_eq!(d["signal"], "psi");
    assert_eq!(
        d["message"],
        "PSI memory full avg10=70.0 (every task stalled on reclaim)"
    );
    // healthy again: the next re-check resumes
    root.psi(1.0, 0.0);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(30)), Some(0));
    let r = p.events_of("round_resumed");
    assert_eq!(r.len(), 1, "{:?}", p.kinds());
    assert_eq!(payload_keys(&r[0]), ["deferred_for_s"]);
    assert!(
        r[0]["deferred_for_s"].as_u64().is_some_and(|s| s >= 1),
        "{}",
        r[0]
    );
    let kinds = p.kinds();
    let pos = |k: &str| kinds.iter().position(|x| x == k).unwrap_or(usize::MAX);
    assert!(pos("round_deferred") < pos("round_resumed"));
    assert!(pos("round_resumed") < pos("round_start"), "{kinds:?}");
    assert_eq!(p.events_of("round_end").len(), 1);
}

#[test]
fn a_warning_never_defers() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    root.psi(40.0, 30.0); // some >= 5: warning; full < 60: not critical
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    let mut c = p.cmd(&["serve", "--once"]);
    root.apply(&mut c, Some(100));
    let o = c.output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(p.events_of("round_deferred").is_empty());
    assert_eq!(p.events_of("round_end").len(), 1);
}

#[test]
fn sigterm_ends_a_deferral_at_once_without_a_resume() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    root.psi(95.0, 80.0);
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    // the real 30 s re-check: only the signal can end it this fast
    let mut child = serve(&p, &root, None, &["serve"]);
    wait_kind(&p, &mut child, "round_deferred", 20);
    std::thread::sleep(Duration::from_millis(300));
    sigterm_ends_at_once(&mut child);
    assert!(
        p.events_of("round_resumed").is_empty(),
        "a stop is not a resume"
    );
    assert!(p.events_of("round_start").is_empty());
    assert_eq!(p.events_of("serve_stopping").len(), 1);
}

#[test]
fn the_stop_file_ends_a_deferral() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    root.psi(95.0, 80.0);
    let stop = p.tmp.path().join("STOP");
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(
        &a,
        &format!("round_budget_s = 30\nstop_file = \"{}\"", stop.display()),
        "",
    );
    let mut child = serve(&p, &root, Some(100), &["serve"]);
    wait_kind(&p, &mut child, "round_deferred", 20);
    std::fs::write(&stop, "maintenance").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), Some(0));
    assert_eq!(p.events_of("stop_file_detected").len(), 1);
    assert!(p.events_of("round_start").is_empty());
}

/// Without any test hook: a private mount namespace with a file
/// bind-mounted over `/proc/pressure/memory` makes the real path read
/// critical, and serve defers.
#[test]
fn serve_defers_on_a_bind_mounted_critical_psi_file_without_test_hooks() {
    assert!(
        std::path::Path::new("/proc/pressure/memory").exists(),
        "this kernel has no /proc/pressure/memory (CONFIG_PSI or psi=1 is needed) to bind a file over"
    );
    let unshare = ["/usr/bin/unshare", "/bin/unshare"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| panic!("unshare (util-linux) is required for this test"));
    let p = Project::new();
    let fake = p.tmp.path().join("psi-critical");
    std::fs::write(&fake, psi_text(97.0, 88.5)).unwrap_or_else(|e| panic!("{e}"));
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    let script = format!(
        "mount --bind '{}' /proc/pressure/memory || exit 97; exec '{BIN}' serve",
        fake.display()
    );
    let mut child = std::process::Command::new(unshare)
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .env_remove("AGENT_RUNNER_SYS_ROOT")
        .env_remove("AGENT_RUNNER_MEM_TICK_MS")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{unshare}: {e}"));
    let ok = wait_until(Duration::from_secs(20), || {
        !p.events_of("round_deferred").is_empty()
    });
    if !ok {
        signal(&child, Signal::SIGKILL);
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        panic!(
            "serve did not defer under the bind-mounted PSI file (exit {:?}; 97 = the bind mount failed, so this needs root and unshare -m): {} {:?}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr),
            p.kinds()
        );
    }
    let d = &p.events_of("round_deferred")[0];
    assert_eq!(d["signal"], "psi");
    assert_eq!(
        d["message"],
        "PSI memory full avg10=88.5 (every task stalled on reclaim)"
    );
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), Some(0));
    assert!(p.events_of("round_start").is_empty());
    // the mount stayed in the namespace that is gone now
    let host = std::fs::read_to_string("/proc/pressure/memory").unwrap_or_default();
    assert!(
        !host.contains("avg10=88.50"),
        "the bind mount leaked: {host}"
    );
}
