//! `agent-runner ssh-config HOST`: output spelled like `ssh -G`, the
//! `--ssh-config` / `AGENT_RUNNER_SSH_CONFIG` override, and exit 2 with a
//! one-line message on a config error. HOME always points at a temp dir.

use std::path::Path;
use std::process::{Command, Output};

fn run(home: &Path, args: &[&str], env_cfg: Option<&Path>) -> Output {
    let mut c = Command::new(crate::support::BIN);
    c.arg("ssh-config").args(args).env("HOME", home);
    c.env_remove("AGENT_RUNNER_SSH_CONFIG");
    if let Some(p) = env_cfg {
        c.env("AGENT_RUNNER_SSH_CONFIG", p);
    }
    c.output().unwrap()
}

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn prints_ssh_g_style_lines() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("cfg");
    std::fs::write(
        &cfg,
        "Host web\n  HostName Web.Example\n  Port 2222\n  User deploy\n  IdentityFile ~/.ssh/deploy\n  StrictHostKeyChecking accept-new\n  ProxyJump bastion\n",
    )
    .unwrap();
    let o = run(
        d.path(),
        &["web", "--ssh-config", cfg.to_str().unwrap()],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let l = lines(&o);
    for want in [
        "host web",
        "user deploy",
        "hostname web.example",
        "port 2222",
        "stricthostkeychecking accept-new",
        "identityfile ~/.ssh/deploy",
        "connecttimeout none",
        "proxyjump bastion",
        "batchmode no",
    ] {
        assert!(l.iter().any(|x| x == want), "missing {want:?} in {l:?}");
    }
    let kh = format!(
        "userknownhostsfile {0}/.ssh/known_hosts {0}/.ssh/known_hosts2",
        d.path().display()
    );
    assert!(l.contains(&kh), "{l:?}");
}

#[test]
fn env_override_and_flag_precedence() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    std::fs::write(&a, "Port 1111\n").unwrap();
    std::fs::write(&b, "Port 2222\n").unwrap();
    let o = run(d.path(), &["h"], Some(&a));
    assert!(lines(&o).contains(&"port 1111".to_string()));
    let o = run(
        d.path(),
        &["h", "--ssh-config", b.to_str().unwrap()],
        Some(&a),
    );
    assert!(lines(&o).contains(&"port 2222".to_string()));
}

#[test]
fn user_file_under_home_wins_over_system_file() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join(".ssh")).unwrap();
    std::fs::write(
        d.path().join(".ssh/config"),
        "Host h\n  Port 3333\n  HashKnownHosts no\n",
    )
    .unwrap();
    let o = run(d.path(), &["h"], None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let l = lines(&o);
    assert!(l.contains(&"port 3333".to_string()), "{l:?}");
    assert!(l.contains(&"hashknownhosts no".to_string()), "{l:?}");
}

#[test]
fn config_errors_exit_2_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("cfg");
    for (text, needle) in [
        ("Host h\n  Port nope\n", "line 2: bad port 'nope'"),
        (
            "Match exec \"true\"\n  Port 1\n",
            "line 1: 'Match exec' is refused",
        ),
        (
            "Host h\n  Bogus 1\n",
            "line 2: bad configuration option 'bogus'",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let o = run(
            d.path(),
            &["h", "--ssh-config", cfg.to_str().unwrap()],
            None,
        );
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(o.stdout.is_empty());
    }
    let o = run(d.path(), &["h", "--ssh-config", "/nonexistent/cfg"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn dash_alias_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("cfg");
    std::fs::write(&cfg, "").unwrap();
    let o = run(
        d.path(),
        &[
            "--ssh-config",
            cfg.to_str().unwrap(),
            "--",
            "-oProxyCommand=evil",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("starts with '-'"));
}
