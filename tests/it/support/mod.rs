//! Shared helpers for integration tests: a scratch git project with its own
//! HOME, a config written from parts, fake agents, and the built binary.
#![allow(dead_code)]

pub mod fault;
pub mod logdir;
pub mod process_agent;
pub mod receiver;
pub mod sshd;
pub mod sysroot;
pub mod witness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_agent-runner");

/// The Python reference tool 0.3.14 (`AGENT_RUNNER_PY`, else
/// /opt/pyar/bin/agent-runner; `.ci/run` installs it). Fails, saying how to
/// install it, when it is missing.
pub fn python_tool() -> PathBuf {
    let p = std::env::var_os("AGENT_RUNNER_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/pyar/bin/agent-runner"));
    assert!(
        p.is_file(),
        "the Python reference tool is missing at '{}': install it with \
         `python3 -m venv /opt/pyar && /opt/pyar/bin/pip install cli-agent-runner==0.3.14` \
         (or bash .ci/run), or point AGENT_RUNNER_PY at its agent-runner",
        p.display()
    );
    p
}

/// Write an executable file (a fake CLI, a script on a remote PATH) so that
/// running it cannot fail with ETXTBSY ("Text file busy"): the bytes are
/// written by a short-lived `sh`, never through a file descriptor of this
/// multi-threaded test process, where a sibling test's fork could hold it
/// open while the file is executed; and they land by rename, so a copy that
/// is still running keeps its own file.
pub fn write_exec(path: &Path, bytes: impl AsRef<[u8]>) {
    use std::io::Write;
    let mut child = Command::new("sh")
        .args(["-c", &format!("cat > \"$1.new\" {LAND}"), "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run sh to write '{}': {e}", path.display()));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(bytes.as_ref())
            .unwrap_or_else(|e| panic!("write '{}': {e}", path.display()));
    }
    let st = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(st.success(), "writing '{}' failed: {st}", path.display());
}

/// `probe --log-dir DIR` (no config) run once from `cwd`: exit 0 asserted;
/// its stdout, and the frames in it.
pub fn probe_once(
    log_dir: impl AsRef<std::ffi::OsStr>,
    cwd: &Path,
) -> (String, Vec<serde_json::Value>) {
    let o = Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/agent-runner.toml",
            "probe",
            "--log-dir",
        ])
        .arg(log_dir)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let frames = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (text, frames)
}

/// The tail of the `sh -c` that [`write_exec`] and [`copy_exec`] run.
const LAND: &str = "&& chmod 755 \"$1.new\" && mv -f \"$1.new\" \"$1\"";

/// Copy an executable (this build) to `dest`, ETXTBSY-safe as [`write_exec`].
pub fn copy_exec(src: &Path, dest: &Path) {
    let st = Command::new("sh")
        .args(["-c", &format!("cp \"$2\" \"$1.new\" {LAND}"), "sh"])
        .arg(dest)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("run sh to copy to '{}': {e}", dest.display()));
    assert!(
        st.success(),
        "copying '{}' to '{}' failed: {st}",
        src.display(),
        dest.display()
    );
}

/// A scratch project: a git repo with a prompt, a fake HOME, a log_dir.
pub struct Project {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub home: PathBuf,
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("git: {e}"));
    assert!(
        o.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A prompt long enough to pass the smoke check.
pub fn long_prompt() -> String {
    let mut s = String::from("# Task\n\nYou are a test agent. ");
    while s.len() < 700 {
        s.push_str("Work carefully, commit your changes, and stop when the task is done. ");
    }
    s
}

impl Project {
    pub fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let dir = tmp.path().join("proj");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(dir.join("prompts")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(&home).unwrap_or_else(|e| panic!("{e}"));
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["config", "user.email", "t@example.invalid"]);
        git(&dir, &["config", "user.name", "t"]);
        git(&dir, &["config", "commit.gpgsign", "false"]);
        std::fs::write(dir.join("prompts/main.md"), long_prompt())
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(".gitignore"), "logs/\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("README.md"), "scratch\n").unwrap_or_else(|e| panic!("{e}"));
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "init"]);
        Project { tmp, dir, home }
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Write an executable agent script into the temp dir (outside the repo).
    pub fn agent(&self, name: &str, body: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        write_exec(&p, format!("#!/usr/bin/env bash\n{body}\n"));
        p
    }

    /// Write agent-runner.toml running `agent` with `extra` TOML appended to
    /// `[runtime]` (and any further tables after it).
    pub fn config(&self, agent: &Path, runtime_extra: &str, tail: &str) -> PathBuf {
        let text = format!(
            "schema_version = 1\n\n[agent]\ncommand = [\"{}\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = \".\"\nlog_dir = \"logs\"\nrestart_delay_s = 0\n{runtime_extra}\n\n[prompt]\nfile = \"prompts/main.md\"\n\n{tail}\n",
            agent.display()
        );
        let p = self.dir.join("agent-runner.toml");
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(&self.dir)
            .env("HOME", &self.home)
            .env_remove("AGENT_RUNNER_SKIP_STARTUP_CHECK");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .output()
            .unwrap_or_else(|e| panic!("run {args:?}: {e}"))
    }

    /// Every event line of every month file, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.log_dir())
            .map(|r| {
                r.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("events-"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }

    pub fn kinds(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| e.get("event").and_then(|k| k.as_str()).map(String::from))
            .collect()
    }

    pub fn events_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e.get("event").and_then(|k| k.as_str()) == Some(kind))
            .collect()
    }
}

/// The keys of an event after `ts` and `event`, in order.
pub fn payload_keys(e: &serde_json::Value) -> Vec<String> {
    e.as_object()
        .map(|m| m.keys().skip(2).cloned().collect())
        .unwrap_or_default()
}

/// Poll `f` until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Pids listed (one per line) in a file written by a fake agent.
pub fn read_pids(p: &Path) -> Vec<i32> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// True if the process exists and is not a zombie.
pub use agent_runner::sys::proc::alive;

/// Wait up to `timeout` for `child` to exit; its exit code (None on a signal
/// death, or on timeout, after which the child is killed).
pub fn wait_exit(child: &mut std::process::Child, timeout: Duration) -> Option<i32> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// Send `s` to `child`.
pub fn signal(child: &std::process::Child, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), s)
        .unwrap_or_else(|e| panic!("kill: {e}"));
}

/// SIGTERM to a waiting `serve` ends it at once: exit 0 within 2 s.
pub fn sigterm_ends_at_once(child: &mut std::process::Child) {
    let t = Instant::now();
    signal(child, nix::sys::signal::Signal::SIGTERM);
    assert_eq!(wait_exit(child, Duration::from_secs(10)), Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}
