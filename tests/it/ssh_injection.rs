//! No local injection (the CVE-2023-51385 class): a host alias, HostName or
//! User carrying shell syntax never reaches the `sh -c` of a ProxyCommand.
//! Every entry point is driven through the real binary with HOME in a temp
//! dir and an explicit `--ssh-config` whose ProxyCommand expands `%h %n %r`;
//! each must refuse with one line naming the value and where it came from,
//! and the file the payload would create must never appear.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Fx {
    dir: tempfile::TempDir,
    home: PathBuf,
    cfg: PathBuf,
    flag: PathBuf,
}

impl Fx {
    fn new() -> Fx {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let flag = dir.path().join("PWNED");
        let cfg = dir.path().join("ssh_config");
        std::fs::write(
            &cfg,
            format!(
                "Host evilhost\n  HostName \"x$(touch pwned)\"\nHost eviluser\n  User \"u$(touch PWNED)\"\n\
                 Host *\n  ProxyCommand /bin/sh -c 'exit 1' %h %n %r\n  ConnectTimeout 5\n  \
                 StrictHostKeyChecking yes\n  UserKnownHostsFile {h}/.ssh/known_hosts\n  \
                 GlobalKnownHostsFile /dev/null\n  IdentityAgent none\n",
                h = home.display()
            ),
        )
        .unwrap();
        Fx {
            dir,
            home,
            cfg,
            flag,
        }
    }

    /// Run the binary with `args` (bounded to 60 s); (exit code, stderr).
    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut c = Command::new(crate::support::BIN);
        c.args(args)
            .env("HOME", &self.home)
            .env_remove("AGENT_RUNNER_SSH_CONFIG")
            .env_remove("SSH_AUTH_SOCK")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("agent-runner {args:?} did not finish within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    }

    fn cfg(&self) -> &str {
        self.cfg.to_str().unwrap()
    }
}

fn assert_refused(fx: &Fx, what: &str, (code, text): (Option<i32>, String), value: &str) {
    // `%h` carries the lowercased name, `%n` the alias as typed.
    for f in [fx.flag.clone(), fx.dir.path().join("pwned")] {
        assert!(
            !f.exists(),
            "{what}: the payload ran ('{}' appeared); output: {text}",
            f.display()
        );
    }
    assert_ne!(code, Some(0), "{what}: accepted: {text}");
    assert!(
        text.contains(value) && text.contains("not allowed"),
        "{what}: the error does not name '{value}' and the rule: {text}"
    );
}

/// An alias with a command substitution, with and without spaces.
const ALIASES: &[&str] = &[
    "pi$(touch PWNED)",
    "pi$(touch${IFS}PWNED)",
    "pi`touch PWNED`",
];

#[test]
fn hostile_host_on_the_command_line_is_refused_everywhere() {
    let fx = Fx::new();
    for alias in ALIASES {
        let cfg = fx.cfg();
        for (what, args) in [
            (
                "doctor --host",
                vec!["doctor", "--host", alias, "--ssh-config", cfg],
            ),
            (
                "deploy --host",
                vec!["deploy", "--host", alias, "--ssh-config", cfg],
            ),
            ("deploy HOST", vec!["deploy", alias, "--ssh-config", cfg]),
            (
                "deploy --rollback",
                vec!["deploy", "--rollback", "--host", alias, "--ssh-config", cfg],
            ),
            (
                "ssh-config HOST",
                vec!["ssh-config", alias, "--ssh-config", cfg],
            ),
            (
                "monitor --host",
                vec!["monitor", "--host", alias, "--ssh-config", cfg, "--once"],
            ),
        ] {
            let r = fx.run(&args);
            assert_refused(&fx, what, r, alias);
        }
    }
}

#[test]
fn hostile_alias_in_the_hosts_file_is_refused() {
    let fx = Fx::new();
    for alias in ALIASES {
        let hosts = fx.dir.path().join("hosts.toml");
        std::fs::write(
            &hosts,
            format!(
                "[[host]]\nalias = \"ok\"\n[[host]]\nalias = {}\n",
                toml::Value::String(alias.to_string())
            ),
        )
        .unwrap();
        let r = fx.run(&[
            "monitor",
            "--fleet",
            hosts.to_str().unwrap(),
            "--ssh-config",
            fx.cfg(),
            "--once",
        ]);
        assert!(r.1.contains(&hosts.display().to_string()), "{}", r.1);
        assert_refused(&fx, "monitor --fleet", r, alias);
    }
}

#[test]
fn hostile_hostname_or_user_from_ssh_config_is_refused() {
    let fx = Fx::new();
    for (alias, value) in [
        ("evilhost", "x$(touch pwned)"),
        ("eviluser", "u$(touch PWNED)"),
    ] {
        for args in [
            vec!["doctor", "--host", alias, "--ssh-config", fx.cfg()],
            vec![
                "monitor",
                "--host",
                alias,
                "--ssh-config",
                fx.cfg(),
                "--once",
            ],
        ] {
            let (code, text) = fx.run(&args);
            assert_refused(&fx, &format!("{args:?}"), (code, text.clone()), value);
            // The message names the config file and line that set the value.
            assert!(
                text.contains(&format!("'{}' line", fx.cfg())),
                "{args:?}: {text}"
            );
        }
    }
}

/// The ProxyCommand above really runs for a well-formed host (so the tests
/// above would see a payload run): it fails in the proxy, not before.
#[test]
fn the_proxy_command_runs_for_a_clean_host() {
    let fx = Fx::new();
    let (code, text) = fx.run(&["doctor", "--host", "clean-host", "--ssh-config", fx.cfg()]);
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("clean-host") && !text.contains("not allowed"),
        "{text}"
    );
    assert!(!Path::new(&fx.flag).exists());
}
