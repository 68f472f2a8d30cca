//! A fleet witness under test: `monitor --fleet` started against a
//! [`Harness`](super::sshd::Harness), its stdout (JSON lines) and stderr
//! collected as they come, and fake remotes: hosts whose remote
//! `agent-runner` is a shell script chosen by the host's remote config path.

use super::sshd::Harness;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Put a dispatcher on the remote PATH as `agent-runner`: a remote config
/// path ending in `fake-NAME.toml` runs `fake-NAME.sh` next to it (with the
/// same arguments); any other config runs this build.
pub fn put_dispatcher(h: &Harness) {
    let s = format!(
        "#!/bin/sh\nfor a in \"$@\"; do\n  case \"$a\" in\n    */fake-*.toml) exec sh \"${{a%.toml}}.sh\" \"$@\" ;;\n  esac\ndone\nexec '{}' \"$@\"\n",
        super::BIN
    );
    let p = h.remote_bin.join("agent-runner");
    crate::support::write_exec(&p, s);
}

/// Write the fake remote `name`'s script; returns the remote config path
/// that selects it.
pub fn fake_remote(h: &Harness, name: &str, script: &str) -> PathBuf {
    let sh = h.root.path().join(format!("fake-{name}.sh"));
    std::fs::write(&sh, script).expect("write a fake remote");
    h.root.path().join(format!("fake-{name}.toml"))
}

/// A running `monitor` whose stdout and stderr lines are collected.
pub struct Witness {
    pub child: Child,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

fn collect(r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = Arc::clone(&lines);
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(r).lines().map_while(Result::ok) {
            if let Ok(mut v) = l2.lock() {
                v.push(l);
            }
        }
    });
    lines
}

impl Witness {
    /// `monitor --fleet FILE --json --ssh-config SSH` with the harness's
    /// HOME, from the harness's root (no local config).
    pub fn fleet(h: &Harness, fleet: &Path, ssh: &Path) -> Witness {
        let mut c = Command::new(super::BIN);
        c.env("HOME", &h.home)
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("AGENT_RUNNER_SSH_CONFIG")
            .env_remove("RUST_LOG")
            .current_dir(h.root.path())
            .args(["--config", "local.toml", "monitor", "--json", "--fleet"])
            .arg(fleet)
            .arg("--ssh-config")
            .arg(ssh)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("start the witness");
        let out = collect(child.stdout.take().expect("stdout"));
        let err = collect(child.stderr.take().expect("stderr"));
        Witness { child, out, err }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout(&self) -> Vec<String> {
        self.out.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.err.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn json(&self) -> Vec<Value> {
        self.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Wait (bounded) until `f` holds over the JSON lines; panic with
    /// everything the witness said otherwise.
    pub fn wait_for(&self, what: &str, timeout: Duration, f: impl Fn(&[Value]) -> bool) {
        let ok = super::wait_until(timeout, || f(&self.json()));
        assert!(
            ok,
            "timed out waiting for {what}; stdout:\n{}\nstderr:\n{}",
            self.stdout().join("\n"),
            self.stderr().join("\n")
        );
    }

    /// The witness is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An alert of `detector` for `host` among the JSON lines.
pub fn has_alert(v: &[Value], host: &str, detector: &str) -> bool {
    v.iter()
        .any(|x| x["host"] == host && x["type"] == "alert" && x["detector"] == detector)
}

/// The errors of `host`'s blips among the JSON lines.
pub fn blip_errors(v: &[Value], host: &str) -> Vec<String> {
    v.iter()
        .filter(|x| x["host"] == host && x["type"] == "blip")
        .filter_map(|x| x["error"].as_str().map(String::from))
        .collect()
}

/// Resident memory of `pid` in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
