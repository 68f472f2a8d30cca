//! `AGENT_RUNNER_EXE`: when agent-runner runs through a wrapper (qemu-user in
//! the e2e lab), what it spawns of itself — here `demo`'s serve and serve's
//! rounds — goes through that wrapper, not `/proc/self/exe`.

use std::process::Command;

use crate::support::BIN;

#[test]
fn self_spawns_go_through_the_wrapper() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("wrapper.log");
    let wrapper = d.path().join("wrapper");
    crate::support::write_exec(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{BIN}' \"$@\"\n",
            log.display()
        ),
    );
    let proj = d.path().join("demo");
    let out = Command::new(BIN)
        .env("AGENT_RUNNER_EXE", &wrapper)
        .args(["demo", "--rounds", "1", "--dir"])
        .arg(&proj)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        calls.lines().any(|l| l.contains("serve --max-rounds 1")),
        "demo's serve did not go through the wrapper: {calls:?}"
    );
    assert!(
        calls
            .lines()
            .any(|l| l.split_whitespace().any(|w| w == "round")),
        "serve's round did not go through the wrapper: {calls:?}"
    );
}
