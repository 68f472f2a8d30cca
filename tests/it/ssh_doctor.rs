//! `agent-runner doctor --host` against a real sshd: every step ok with the
//! freshly built binary on the remote PATH; a wrong key names the
//! authenticate step; a missing remote binary points at `deploy`.

use crate::support::sshd;

use std::process::{Command, Output};

use sshd::Harness;

use crate::support::BIN;

fn doctor(h: &Harness, extra: &[&str]) -> Output {
    Command::new(BIN)
        .env("HOME", &h.home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("AGENT_RUNNER_SSH_CONFIG")
        .current_dir(h.root.path())
        .arg("doctor")
        .args(extra)
        .output()
        .expect("run agent-runner")
}

#[test]
fn doctor_host_reports_every_step_ok() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let cfg = h.client_config.display().to_string();
    let out = doctor(&h, &["--host", "pi", "--ssh-config", &cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "resolve",
        "connect",
        "host key",
        "authenticate",
        "remote command",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(step))
            .unwrap_or_else(|| panic!("no '{step}' line in:\n{text}"));
        assert!(line.trim_start().starts_with("ok"), "{line}");
    }
    assert!(
        text.contains(&format!("agent-runner {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );

    // Default config (HOME/.ssh/config), JSON output, through a jump host.
    let out = doctor(&h, &["--host", "behindjump", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["steps"].as_array().unwrap().len(), 5);
    assert!(
        v["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("via jump"),
        "{v}"
    );
}

#[test]
fn doctor_with_a_wrong_key_names_the_authenticate_step() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let wrong = h.root.path().join("wrong_key");
    sshd::keygen(&wrong, "ed25519", "");
    let cfg = std::fs::read_to_string(&h.client_config).unwrap().replace(
        &h.user_key.display().to_string(),
        &wrong.display().to_string(),
    );
    let cfg_path = h.root.path().join("wrong_config");
    std::fs::write(&cfg_path, cfg).unwrap();
    let out = doctor(
        &h,
        &["--host", "pi", "--ssh-config", cfg_path.to_str().unwrap()],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text.lines().find(|l| l.contains("authenticate")).unwrap();
    assert!(line.trim_start().starts_with("failed"), "{text}");
    assert!(
        line.contains("wrong_key") && line.contains("authorized_keys"),
        "{line}"
    );
    let remote = text.lines().find(|l| l.contains("remote command")).unwrap();
    assert!(remote.trim_start().starts_with("skipped"), "{text}");
    for ok in ["resolve", "connect", "host key"] {
        let l = text.lines().find(|l| l.contains(ok)).unwrap();
        assert!(l.trim_start().starts_with("ok"), "{text}");
    }
}

#[test]
fn doctor_with_missing_remote_binary_points_at_deploy() {
    let h = Harness::new();
    let cfg = h.client_config.display().to_string();
    let out = doctor(&h, &["--host", "pi", "--ssh-config", &cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text.lines().find(|l| l.contains("remote command")).unwrap();
    assert!(line.trim_start().starts_with("failed"), "{line}");
    assert!(line.contains("agent-runner deploy pi"), "{line}");
}

#[test]
fn doctor_unknown_host_key_and_unreachable_port() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    std::fs::write(&h.known_hosts, "").unwrap();
    let cfg = h.client_config.display().to_string();
    let out = doctor(&h, &["--host", "pi", "--ssh-config", &cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text.lines().find(|l| l.contains("host key")).unwrap();
    assert!(
        line.trim_start().starts_with("failed") && line.contains("ssh-keyscan"),
        "{text}"
    );

    // A port nobody listens on: connect fails, later steps skipped.
    let port = sshd::free_port();
    let cfg2 = h.root.path().join("dead_config");
    std::fs::write(
        &cfg2,
        format!("Host dead\n  HostName 127.0.0.1\n  Port {port}\n  ConnectTimeout 5\n"),
    )
    .unwrap();
    let out = doctor(
        &h,
        &["--host", "dead", "--ssh-config", cfg2.to_str().unwrap()],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text.lines().find(|l| l.contains("connect")).unwrap();
    assert!(line.trim_start().starts_with("failed"), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with("skipped"))
            .count()
            == 3,
        "{text}"
    );
}

#[test]
fn doctor_warns_of_a_bad_known_hosts_line_and_uses_the_rest() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let good = std::fs::read(&h.known_hosts).unwrap();
    let mut text = b"# caf\xe9 (a latin-1 comment)\nthis line is garbage\n".to_vec();
    text.extend_from_slice(&good);
    std::fs::write(&h.known_hosts, &text).unwrap();
    let cfg = h.client_config.display().to_string();
    let out = doctor(&h, &["--host", "pi", "--ssh-config", &cfg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The comment is fine; the garbage line is named, once.
    let warning = format!("known_hosts '{}' line 2", h.known_hosts.display());
    assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
    assert!(!stderr.contains("line 1"), "{stderr}");

    // A known_hosts file that cannot be read refuses, naming it.
    std::fs::remove_file(&h.known_hosts).unwrap();
    std::fs::create_dir(&h.known_hosts).unwrap();
    let out = doctor(&h, &["--host", "pi", "--ssh-config", &cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text.lines().find(|l| l.contains("host key")).unwrap_or("");
    assert!(line.trim_start().starts_with("failed"), "{text}");
    assert!(
        line.contains(&format!(
            "cannot read known_hosts file '{}'",
            h.known_hosts.display()
        )),
        "{text}"
    );
}
