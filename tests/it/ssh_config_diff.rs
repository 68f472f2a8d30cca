//! Differential test: our ssh_config resolver against OpenSSH's own
//! (`ssh -G -F FILE HOST`) on the corpus in `tests/data/ssh_configs/`.
//!
//! OpenSSH finds `~` through the passwd entry, not `$HOME`. So that it never
//! reads the real `~/.ssh`, each case runs `ssh -G` inside a private mount
//! namespace (`unshare -m`, or `unshare -r -m` when not root) where a temp
//! dir is bind-mounted over the passwd home. Our resolver gets the temp dir
//! as its home, and `ssh -G`'s paths are mapped back before comparing.
//!
//! Every directive we honour is compared; a failure lists every mismatch.
//! The few configs `ssh -G` resolves and we refuse on purpose are listed in
//! [`STRICTER`], each with the words our error must say.

use agent_runner::ssh::config::{resolve, resolve_full, ResolveOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `ssh -G` keys for the directives in scope.
const KEYS: &[&str] = &[
    "host",
    "user",
    "hostname",
    "port",
    "batchmode",
    "hashknownhosts",
    "identitiesonly",
    "stricthostkeychecking",
    "serveralivecountmax",
    "serveraliveinterval",
    "hostkeyalias",
    "identityagent",
    "identityfile",
    "certificatefile",
    "globalknownhostsfile",
    "userknownhostsfile",
    "connecttimeout",
    "proxycommand",
    "proxyjump",
    "revokedhostkeys",
];

/// (case, host, what our error says): configs `ssh -G` resolves that we
/// refuse on purpose (docs/ssh.md, "What we refuse"): a HostName or User
/// with characters a shell would read, and KnownHostsCommand.
const STRICTER: &[(&str, &str, &str)] = &[
    ("07_quotes", "q", "invalid User 'with space'"),
    ("08_comments", "c", "invalid User 'c#hash'"),
    (
        "20_hostname_tokens",
        "beta",
        "invalid HostName 'beta-%-pct'",
    ),
    ("60_user_literal_tokens", "ul", "invalid User '%u-literal'"),
    ("63_quoted_equals_value", "qe", "invalid User 'spaced user'"),
    (
        "79_known_hosts_command",
        "k",
        "KnownHostsCommand '/bin/echo %H %f' is not supported",
    ),
    (
        "79_known_hosts_command",
        "other",
        "KnownHostsCommand '/bin/false' is not supported",
    ),
];

type Dump = BTreeMap<String, Vec<String>>;

#[derive(Debug)]
enum Oracle {
    Ok(Dump),
    Err(String),
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ssh_configs")
}

fn require_ssh() {
    let ok = Command::new("ssh")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "OpenSSH client not found: install openssh-client (the differential test needs `ssh -G`)"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Run `ssh -G` for every host of a case inside a mount namespace where the
/// passwd home is `fake_home`. Returns (passwd home, local user, per-host result).
fn run_oracle(fake_home: &Path, cfg: &Path, hosts: &[String]) -> (String, String, Vec<Oracle>) {
    let script = r#"
set -u
FAKE="$1"; CFG="$2"; shift 2
PWHOME=$(getent passwd "$(id -u)" | cut -d: -f6)
mount --bind "$FAKE" "$PWHOME" || { echo "@@MOUNTFAIL"; exit 3; }
export HOME="$PWHOME"
echo "@@WHO $(id -un) $PWHOME"
for h in "$@"; do
  echo "@@HOST $h"
  ssh -G -F "$CFG" -- "$h" 2>&1 </dev/null
  echo "@@RC $?"
done
"#;
    let root = nix::unistd::geteuid().is_root();
    let mut cmd = Command::new("unshare");
    if !root {
        cmd.arg("-r");
    }
    cmd.args(["-m", "sh", "-c", script, "sh"])
        .arg(fake_home)
        .arg(cfg)
        .args(hosts);
    let out = cmd.output().expect("run unshare (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && !text.contains("@@MOUNTFAIL"),
        "cannot run ssh -G in a private mount namespace (needs root or user namespaces): {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut who = ("".to_string(), "".to_string());
    let mut results = Vec::new();
    let mut cur: Option<Vec<String>> = None;
    for line in text.lines() {
        if let Some(w) = line.strip_prefix("@@WHO ") {
            let mut it = w.splitn(2, ' ');
            who.0 = it.next().unwrap_or("").to_string();
            who.1 = it.next().unwrap_or("").to_string();
        } else if line.starts_with("@@HOST ") {
            cur = Some(Vec::new());
        } else if let Some(rc) = line.strip_prefix("@@RC ") {
            let lines = cur.take().unwrap();
            if rc == "0" {
                let mut d = Dump::new();
                for l in &lines {
                    let (k, v) = l.split_once(' ').unwrap_or((l.as_str(), ""));
                    if KEYS.contains(&k) {
                        d.entry(k.to_string()).or_default().push(v.to_string());
                    }
                }
                results.push(Oracle::Ok(d));
            } else {
                results.push(Oracle::Err(lines.join(" | ")));
            }
        } else if let Some(c) = cur.as_mut() {
            c.push(line.to_string());
        }
    }
    assert_eq!(results.len(), hosts.len(), "oracle output: {text}");
    (who.1, who.0, results)
}

fn map_home(v: &str, pw_home: &str, fake: &str) -> String {
    if pw_home.len() > 1 {
        v.replace(pw_home, fake)
    } else {
        v.to_string()
    }
}

#[test]
fn resolver_matches_ssh_g_on_corpus() {
    require_ssh();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "corpus has only {} cases", cases.len());

    let mut failures = Vec::new();
    let mut compared = 0;
    let mut error_cases = 0;
    let mut stricter_seen = 0;
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let hosts: Vec<String> = std::fs::read_to_string(case.join("hosts"))
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        let fake_home = tmp.path().join("home");
        std::fs::create_dir_all(fake_home.join(".ssh")).unwrap();
        if case.join("dot_ssh").is_dir() {
            copy_tree(&case.join("dot_ssh"), &fake_home.join(".ssh"));
        }
        let cfg = tmp.path().join("config");
        std::fs::copy(case.join("config"), &cfg).unwrap();

        let (pw_home, local_user, oracle) = run_oracle(&fake_home, &cfg, &hosts);
        let fake = fake_home.to_string_lossy().into_owned();
        let ro = ResolveOptions {
            config_file: Some(cfg.clone()),
            home: fake_home.clone(),
            local_user,
            system_file: tmp.path().join("no-system-file"),
        };
        for (host, want) in hosts.iter().zip(oracle) {
            compared += 1;
            let ours = resolve_full(host, &ro).and_then(|r| r.dump());
            match (want, ours) {
                (Oracle::Err(msg), Err(e)) => {
                    error_cases += 1;
                    // Where OpenSSH names a line, we name the same one.
                    if let Some(n) = ssh_error_line(&msg) {
                        let ours = e.to_string();
                        if !ours.contains(&format!("line {n}:")) {
                            failures.push(format!(
                                "{name} {host}: ssh says line {n} ({msg}); we say: {ours}"
                            ));
                        }
                    }
                }
                (Oracle::Err(msg), Ok(_)) => failures.push(format!(
                    "{name} {host}: ssh -G failed ({msg}) but we resolved"
                )),
                (Oracle::Ok(_), Err(e)) => {
                    let e = e.to_string();
                    match STRICTER.iter().find(|(c, h, _)| *c == name && h == host) {
                        Some((_, _, says)) if e.contains(says) => stricter_seen += 1,
                        _ => failures
                            .push(format!("{name} {host}: ssh -G resolved but we failed: {e}")),
                    }
                }
                (Oracle::Ok(want), Ok(got)) => {
                    let mut gotmap = Dump::new();
                    for (k, v) in got {
                        gotmap.entry(k.to_string()).or_default().push(v);
                    }
                    for k in KEYS {
                        let w: Vec<String> = want
                            .get(*k)
                            .cloned()
                            .unwrap_or_default()
                            .iter()
                            .map(|v| map_home(v, &pw_home, &fake))
                            .collect();
                        let g = gotmap.get(*k).cloned().unwrap_or_default();
                        if w != g {
                            failures
                                .push(format!("{name} {host}: '{k}': ssh -G {w:?}, ours {g:?}"));
                        }
                    }
                    // The session-layer view must resolve too.
                    if let Err(e) = resolve(host, &ro) {
                        failures.push(format!("{name} {host}: resolve() failed: {e}"));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatch(es) against ssh -G over {compared} (config, host) pairs:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        stricter_seen,
        STRICTER.len(),
        "a case listed in STRICTER was not refused as listed"
    );
    assert!(compared >= 100, "only {compared} pairs compared");
    assert!(error_cases >= 5, "only {error_cases} error cases exercised");
}

/// "FILE line N: ..." or "FILE: line N: ..." in ssh's message.
fn ssh_error_line(msg: &str) -> Option<usize> {
    let i = msg.find(" line ")?;
    let rest = &msg[i + 6..];
    let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    n.parse().ok()
}
