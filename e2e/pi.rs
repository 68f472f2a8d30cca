//! The end-to-end suite against a real SSH host reachable as the alias `pi`
//! (your own Pi through your ssh config, or the lab that `bash e2e/lab`
//! builds on this machine). It runs only with `AGENT_RUNNER_E2E_PI=1`;
//! without it, it prints that it did not run and why, and passes.
//!
//! Steps, each of which fails loudly: deploy this build to a temp dir on the
//! host (checksum and `--version` checked there) and find `agent-runner` on the
//! remote PATH; init a demo project in a remote temp dir; `start` it
//! (pid-file mode) and let the demo agent play its rounds; `monitor --host pi
//! --once --json` sees them; start a serve again, force `disk_critical`
//! through the thresholds, see the alert on this side, and see auto-stop stop
//! the remote serve (`status --json` says inactive). The remote temp dir is
//! removed at the end, also after a failure.
//!
//! A custom harness (`harness = false` in Cargo.toml): one ordered scenario,
//! progress printed as it goes, nothing captured.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agent_runner::ssh::config::{self, ResolveOptions};
use agent_runner::ssh::{session, Output as RemoteOutput, ResolvedHost, Session, SshError};
use serde_json::Value;
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_agent-runner");
const SHORT: Duration = Duration::from_secs(60);
/// How `monitor --host` is told the project's config path on the host.
const REMOTE_CONFIG_FLAG: &str = "--remote-config";

fn say(msg: &str) {
    println!("e2e: {msg}");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The host: one native SSH session, a remote temp dir, and cleanup on drop.
struct Remote {
    alias: String,
    rt: tokio::runtime::Runtime,
    s: Option<Session>,
    dir: String,
}

impl Remote {
    fn connect(alias: &str) -> Remote {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let ro = ResolveOptions::from_env(None).expect("ssh config options");
        let host = config::resolve(alias, &ro).unwrap_or_else(|e| {
            panic!("cannot resolve '{alias}': {e}; add a Host '{alias}' block to your ssh config or set AGENT_RUNNER_SSH_CONFIG")
        });
        let resolver = |a: &str| -> Result<ResolvedHost, SshError> {
            config::resolve(a, &ro).map_err(|e| SshError::Resolve {
                alias: a.to_string(),
                reason: e.to_string(),
            })
        };
        let s = rt
            .block_on(session::connect(&host, &resolver))
            .unwrap_or_else(|e| panic!("cannot connect to '{alias}': {e}"));
        let mut r = Remote {
            alias: alias.to_string(),
            rt,
            s: Some(s),
            dir: String::new(),
        };
        let out = r.sh_ok(
            "mktemp -d \"${TMPDIR:-/tmp}/ar-e2e.XXXXXX\"",
            &[],
            "make a remote temp dir",
        );
        r.dir = text(&out.stdout).trim().to_string();
        assert!(r.dir.starts_with('/'), "mktemp said '{}'", r.dir);
        r
    }

    /// `sh -c script sh args…` on the host.
    fn sh(&self, script: &str, args: &[&str]) -> RemoteOutput {
        let mut argv = vec!["sh", "-c", script, "sh"];
        argv.extend_from_slice(args);
        let s = self.s.as_ref().expect("session");
        self.rt
            .block_on(s.exec(&argv, SHORT))
            .unwrap_or_else(|e| panic!("remote command failed to run: {e}"))
    }

    fn sh_ok(&self, script: &str, args: &[&str], what: &str) -> RemoteOutput {
        let o = self.sh(script, args);
        assert!(
            o.success(),
            "on '{}': {what} failed (exit {:?})\nstdout: {}\nstderr: {}",
            self.alias,
            o.status,
            text(&o.stdout),
            text(&o.stderr)
        );
        o
    }

    fn project(&self) -> String {
        format!("{}/proj", self.dir)
    }

    fn config(&self) -> String {
        format!("{}/proj/agent-runner.toml", self.dir)
    }

    /// `agent-runner --config <project config> status --json` on the host.
    fn status(&self) -> Value {
        let o = self.sh_ok(
            "cd \"$1\" && agent-runner --config \"$2\" status --json",
            &[&self.project(), &self.config()],
            "agent-runner status --json",
        );
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", text(&o.stdout)))
    }

    fn wait_status(&self, what: &str, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + limit;
        loop {
            let st = self.status();
            if ok(&st) {
                return st;
            }
            assert!(
                Instant::now() < end,
                "on '{}': {what} not seen within {}s; last status: {st}\nserve.log: {}",
                self.alias,
                limit.as_secs(),
                self.serve_log()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn serve_log(&self) -> String {
        text(
            &self
                .sh("tail -n 20 \"$1\"/logs/serve.log 2>&1", &[&self.project()])
                .stdout,
        )
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if self.dir.is_empty() {
            return;
        }
        say(&format!("cleanup: kill any serve, remove '{}'", self.dir));
        let _ = self.sh(
            "if [ -f \"$2\" ]; then cd \"$1\" && agent-runner --config \"$2\" kill >/dev/null 2>&1; fi; rm -rf -- \"$3\"",
            &[&self.project(), &self.config(), &self.dir],
        );
        if let Some(s) = self.s.take() {
            self.rt.block_on(s.close());
        }
    }
}

/// Run the local agent-runner.
fn local(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the local agent-runner")
}

/// Every JSON line of `out`; panics on a line that is not JSON.
fn json_lines(out: &[u8]) -> Vec<Value> {
    text(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// True if `v` holds `needle` as a string anywhere.
fn mentions(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle),
        Value::Array(a) => a.iter().any(|x| mentions(x, needle)),
        Value::Object(o) => o
            .iter()
            .any(|(k, x)| k.contains(needle) || mentions(x, needle)),
        _ => false,
    }
}

/// The largest number under a key that names a round, anywhere in `v`.
fn max_round(v: &Value) -> Option<u64> {
    match v {
        Value::Array(a) => a.iter().filter_map(max_round).max(),
        Value::Object(o) => o
            .iter()
            .filter_map(|(k, x)| {
                let own = (k.contains("round") && !k.contains("age"))
                    .then(|| x.as_u64())
                    .flatten();
                own.into_iter().chain(max_round(x)).max()
            })
            .max(),
        _ => None,
    }
}

fn monitor_once(alias: &str, remote_config: &str) -> (Option<i32>, Vec<Value>, String) {
    let o = local(&[
        "monitor",
        "--host",
        alias,
        REMOTE_CONFIG_FLAG,
        remote_config,
        "--once",
        "--json",
    ]);
    let lines = json_lines(&o.stdout);
    (o.status.code(), lines, text(&o.stderr))
}

fn main() {
    if std::env::var("AGENT_RUNNER_E2E_PI").as_deref() != Ok("1") {
        let msg = "NOTICE: the e2e suite did NOT run: it needs AGENT_RUNNER_E2E_PI=1 and an SSH \
                   host reachable as the alias 'pi' (your ssh config or AGENT_RUNNER_SSH_CONFIG). \
                   Run 'bash e2e/lab' to build such a host on this machine and run it; see the \
                   README, section 'End-to-end against a Pi'.";
        eprintln!("{msg}");
        return;
    }
    let alias = std::env::var("AGENT_RUNNER_E2E_HOST").unwrap_or_else(|_| "pi".into());
    let started = Instant::now();
    say(&format!("against '{alias}' with {BIN}"));
    let r = Remote::connect(&alias);
    say(&format!("remote temp dir '{}'", r.dir));

    // 1. deploy this build (or the cross build for the host's arch) into the
    //    temp dir; the checksum on the host equals the local file's.
    let dest = format!("{}/bin/agent-runner", r.dir);
    let o = local(&["deploy", "--host", &alias, "--remote-path", &dest, "--json"]);
    assert!(
        o.status.success(),
        "deploy failed ({:?}): {}{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
    let d: Value = serde_json::from_slice(&o.stdout).expect("deploy --json");
    let local_file = d["local"].as_str().expect("deploy: local");
    let local_sha = hex::encode(Sha256::digest(
        std::fs::read(Path::new(local_file)).expect("read the deployed file"),
    ));
    assert_eq!(d["sha256"], local_sha);
    let o = r.sh_ok(
        "sha256sum \"$1\"",
        &[&dest],
        "sha256sum of the deployed file",
    );
    assert!(
        text(&o.stdout).starts_with(&local_sha),
        "remote checksum {} != local {local_sha}",
        text(&o.stdout)
    );
    let want = format!("agent-runner {}", env!("CARGO_PKG_VERSION"));
    let o = r.sh_ok(
        "\"$1\" --version",
        &[&dest],
        "the deployed binary's --version",
    );
    // The first line is the version; then the target and the commit.
    assert_eq!(text(&o.stdout).lines().next().map(str::trim), Some(&*want));
    say(&format!(
        "deploy ok: {} ({}), sha256 {local_sha}",
        d["arch"], want
    ));

    // The agent-runner on the remote PATH is what monitor and auto-stop run.
    let o = r.sh("command -v agent-runner && agent-runner --version", &[]);
    assert!(
        o.success(),
        "'agent-runner' is not on the PATH of SSH commands on '{alias}' ({}); install it with 'agent-runner deploy --host {alias}' and make sure ~/.local/bin is on that PATH",
        text(&o.stderr).trim()
    );
    let found = text(&o.stdout);
    assert!(
        found.lines().any(|l| l.trim() == want),
        "the agent-runner on '{alias}' is not this version ({want}): {found}; update it with 'agent-runner deploy --host {alias}'"
    );
    say(&format!(
        "found on the remote PATH: {}",
        found.replace('\n', " ")
    ));

    // 2. init a demo project there.
    r.sh_ok(
        "set -e; mkdir -p \"$1\"; cd \"$1\"; git init -q; \
         git config user.email e2e@agent-runner.invalid; git config user.name e2e; \
         git config commit.gpgsign false; agent-runner init --preset demo",
        &[&r.project()],
        "git init + agent-runner init --preset demo",
    );
    say("project initialised");

    // 3. serve the demo agent's rounds (pid-file mode); it stops by itself
    //    after round 4 (clean, dirty → stash, hang → budget kill, done).
    let cfg = r.config();
    r.sh_ok(
        "cd \"$1\" && agent-runner --config \"$2\" start",
        &[&r.project(), &cfg],
        "agent-runner start",
    );
    let st = r.wait_status(
        "the demo serve finishing its rounds",
        Duration::from_secs(180),
        |s| s["active"] == false && s["last_round"].as_u64().unwrap_or(0) >= 4,
    );
    say(&format!("demo served: {st}"));

    // 4. the witness on this side sees them.
    let (code, lines, err) = monitor_once(&alias, &cfg);
    assert!(
        matches!(code, Some(0) | Some(1)),
        "monitor --host {alias} --once --json exited {code:?} (0 healthy, 1 alerts, 2 unreachable): {err}"
    );
    assert!(!lines.is_empty(), "monitor printed nothing: {err}");
    for l in &lines {
        assert_eq!(
            l["host"],
            alias.as_str(),
            "line not tagged with the host: {l}"
        );
    }
    // It reached this project on the host (the hello names its log_dir).
    assert!(
        lines.iter().any(|l| mentions(l, &r.project())),
        "monitor did not report the project '{}' on '{alias}': {lines:?}",
        r.project()
    );
    // The lab says which architecture its agent-runner is (aarch64 under qemu).
    if let Ok(arch) = std::env::var("AGENT_RUNNER_E2E_EXPECT_ARCH") {
        assert!(
            lines.iter().any(|l| l["arch"] == arch.as_str()),
            "the remote agent-runner should report arch '{arch}': {lines:?}"
        );
    }
    // Where it reports round numbers, they are the demo's.
    let seen = lines.iter().filter_map(max_round).max();
    if let Some(n) = seen {
        assert!(
            n >= 4,
            "monitor reported round {n}, the demo served 4: {lines:?}"
        );
    }
    say(&format!(
        "monitor saw {} line(s), round {seen:?}",
        lines.len()
    ));

    // 5. a serve again (quick rounds, long pauses), then a forced anomaly:
    //    disk thresholds that any disk exceeds → disk_critical.
    r.sh_ok(
        "set -e; cd \"$1\"; \
         sed -i -e 's/^restart_delay_s = .*/restart_delay_s = 60/' \
                -e 's/^command = .*/command = [\"sh\", \"-c\", \"echo e2e round; sleep 1\"]/' \"$2\"; \
         grep -q '^restart_delay_s = 60' \"$2\"; grep -q 'e2e round' \"$2\"; \
         agent-runner --config \"$2\" start",
        &[&r.project(), &cfg],
        "reconfigure and start again",
    );
    // Its first round leaves a fresh host sample (disk_used_pct) behind.
    r.wait_status(
        "the second serve's first round",
        Duration::from_secs(90),
        |s| s["active"] == true && s["last_round"].as_u64().unwrap_or(0) >= 5,
    );
    r.sh_ok(
        "printf '\\n[monitor]\\nauto_stop_on = [\"disk_critical\"]\\n\\n[monitor.host_health.disk]\\nwarning_pct = 1\\ncritical_pct = 1\\n' >> \"$1\"",
        &[&cfg],
        "force disk thresholds",
    );
    assert_eq!(
        r.status()["active"],
        true,
        "serve stopped before the monitor ran"
    );
    say("serve active; thresholds force disk_critical");

    let (code, lines, err) = monitor_once(&alias, &cfg);
    assert_eq!(
        code,
        Some(1),
        "monitor --once with an alert must exit 1: {err}"
    );
    let alert = lines
        .iter()
        .find(|l| mentions(l, "disk_critical"))
        .unwrap_or_else(|| panic!("no disk_critical alert on this side: {lines:?}\n{err}"));
    assert_eq!(alert["host"], alias.as_str(), "{alert}");
    say(&format!("alert on the laptop: {alert}"));

    // 6. auto-stop: the continuous witness stops the remote serve.
    if r.status()["active"] == true {
        let mut child = Command::new(BIN)
            .args([
                "monitor",
                "--host",
                &alias,
                REMOTE_CONFIG_FLAG,
                &cfg,
                "--json",
                "--interval",
                "2",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn monitor");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("monitor stdout");
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let end = Instant::now() + Duration::from_secs(120);
        let mut stopped = false;
        let mut got = Vec::new();
        while Instant::now() < end {
            while let Ok(l) = rx.try_recv() {
                say(&format!("monitor: {l}"));
                got.push(l);
            }
            if r.status()["active"] == false {
                stopped = true;
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let _ = child.kill();
        let _ = child.wait();
        while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
            say(&format!("monitor: {l}"));
            got.push(l);
        }
        assert!(
            stopped,
            "auto-stop did not stop the serve on '{alias}' within 120s; monitor said: {got:?}\nserve.log: {}",
            r.serve_log()
        );
        assert!(
            got.iter().any(|l| l.contains("disk_critical")),
            "the serve stopped, but the continuous monitor never reported disk_critical: {got:?}"
        );
    } else {
        say("the one-shot monitor already auto-stopped the serve");
    }
    let st = r.wait_status("serve inactive", Duration::from_secs(30), |s| {
        s["active"] == false
    });
    say(&format!("remote serve stopped: {st}"));

    drop(r);
    say(&format!(
        "PASSED in {:.0}s",
        started.elapsed().as_secs_f64()
    ));
}
