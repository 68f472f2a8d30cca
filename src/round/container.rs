//! An agent run inside `docker run` / `podman run` (0.3 delta §3.15). A
//! killed agent's container detaches from the process group the round
//! kills, so the round recognises a container run in the effective argv
//! (behind `sudo`/`env` wrappers and runtime global flags), and for the
//! plain form injects `--cidfile` into a host-private temp dir, then after a
//! kill runs a best-effort `<runtime> stop -- <id>` with the id checked as
//! 12–64 hex digits; every killed container round records
//! `round_container_orphan_risk`. The boot checks built on the same
//! recognition live in [`crate::round::battery`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNTIMES: &[&str] = &["docker", "podman"];

/// Runtime global flags that take a separate value, skipped in pairs.
const GLOBAL_FLAGS_WITH_VALUE: &[&str] = &[
    "-H",
    "--host",
    "--context",
    "-c",
    "--config",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];

/// A cidfile is never read past this (a real id is at most 64 hex digits).
const CIDFILE_CAP: u64 = 128;
/// How long the best-effort `stop` may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// `stop -t`: the grace docker gives the container (the round's 5 s).
const STOP_GRACE_S: &str = "5";

fn base(s: &str) -> &str {
    Path::new(s)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(s)
}

/// The argv without a leading `sudo` (and its flags) and/or `env` (its flags
/// and `VAR=value` words).
fn unwrap_prefix(argv: &[String]) -> &[String] {
    let mut i = 0;
    let n = argv.len();
    if i < n && base(&argv[i]) == "sudo" {
        i += 1;
        while i < n && argv[i].starts_with('-') {
            i += if matches!(argv[i].as_str(), "-u" | "--user") && i + 1 < n {
                2
            } else {
                1
            };
        }
    }
    if i < n && base(&argv[i]) == "env" {
        i += 1;
        while i < n && (argv[i].starts_with('-') || argv[i].contains('=')) {
            i += 1;
        }
    }
    &argv[i..]
}

/// `(runtime, index of "run" in argv)` when `argv` runs a container.
pub fn detect(argv: &[String]) -> Option<(String, usize)> {
    let real = unwrap_prefix(argv);
    let runtime = base(real.first()?);
    if !RUNTIMES.contains(&runtime) {
        return None;
    }
    let offset = argv.len() - real.len();
    let mut i = 1;
    while i < real.len() {
        let tok = real[i].as_str();
        if tok == "run" {
            return Some((runtime.to_string(), offset + i));
        }
        if !tok.starts_with('-') {
            return None;
        }
        i += if GLOBAL_FLAGS_WITH_VALUE.contains(&tok) && i + 1 < real.len() {
            2
        } else {
            1
        };
    }
    None
}

/// Whether `exec_prefix` attaches the container's stdin (`-i`, a short
/// cluster holding `i`, `--interactive[=…]`; not `--init`).
pub fn prefix_is_interactive(exec_prefix: &[String]) -> bool {
    exec_prefix.iter().any(|t| {
        t == "--interactive"
            || t.starts_with("--interactive=")
            || (t.len() > 1
                && t.starts_with('-')
                && !t.starts_with("--")
                && t[1..].bytes().all(|b| b.is_ascii_lowercase())
                && t[1..].contains('i'))
    })
}

/// A container round: its runtime and, for the plain form, the cidfile the
/// runtime writes the id to (its private directory is removed on drop).
#[derive(Debug)]
pub struct ContainerRound {
    pub runtime: String,
    cid_dir: Option<PathBuf>,
}

impl ContainerRound {
    fn cidfile(&self) -> Option<PathBuf> {
        self.cid_dir.as_ref().map(|d| d.join("cid"))
    }

    /// After a kill: `<runtime> stop -t 5 -- <id>` when the id is known.
    /// `(container_id, stop_ok)`; both `None` when no id could be read (the
    /// wrapped forms, or a container that never started). A container that
    /// is already gone counts as stopped.
    pub fn stop(&self) -> (Option<String>, Option<bool>) {
        let Some(id) = self.cidfile().and_then(|f| read_id(&f)) else {
            return (None, None);
        };
        let child = Command::new(&self.runtime)
            .args(["stop", "-t", STOP_GRACE_S, "--", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            return (Some(id), Some(false));
        };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let ok = match status {
            Some(st) if st.success() => true,
            Some(_) => {
                use std::io::Read;
                let mut err = String::new();
                if let Some(e) = child.stderr.as_mut() {
                    let _ = e.take(4096).read_to_string(&mut err);
                }
                err.to_lowercase().contains("no such container")
            }
            None => false,
        };
        (Some(id), Some(ok))
    }
}

impl Drop for ContainerRound {
    fn drop(&mut self) {
        if let Some(d) = &self.cid_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The id in a cidfile, if it is one (12–64 hex digits, read capped).
fn read_id(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(CIDFILE_CAP + 1)
        .read_to_end(&mut raw)
        .ok()?;
    if raw.len() as u64 > CIDFILE_CAP {
        return None;
    }
    let id = String::from_utf8_lossy(&raw).trim().to_string();
    ((12..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Recognise a container run in `argv`; for the plain form (the runtime
/// itself, `run` right after it, no `--cidfile` of the operator's) insert
/// `--cidfile <private dir>/cid` after `run`.
pub fn prepare(argv: &mut Vec<String>) -> Option<ContainerRound> {
    let (runtime, run_idx) = detect(argv)?;
    let has_cidfile = argv[run_idx + 1..]
        .iter()
        .any(|t| t == "--cidfile" || t.starts_with("--cidfile="));
    let mut round = ContainerRound {
        runtime,
        cid_dir: None,
    };
    if run_idx == 1 && !has_cidfile {
        if let Some(dir) = private_dir() {
            let file = dir.join("cid").to_string_lossy().into_owned();
            argv.splice(run_idx + 1..run_idx + 1, ["--cidfile".to_string(), file]);
            round.cid_dir = Some(dir);
        }
    }
    Some(round)
}

/// A fresh 0700 directory under the temp dir, outside any mount of the
/// work_dir.
fn private_dir() -> Option<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let tag: [u8; 12] = rand::random();
    let d = std::env::temp_dir().join(format!("agent-runner-cid-{}", hex::encode(tag)));
    std::fs::DirBuilder::new().mode(0o700).create(&d).ok()?;
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn detection_sees_through_wrappers_and_global_flags() {
        assert_eq!(detect(&v("docker run img")), Some(("docker".into(), 1)));
        assert_eq!(
            detect(&v("/usr/bin/podman --log-level debug run -i img")),
            Some(("podman".into(), 3))
        );
        assert_eq!(
            detect(&v("sudo -u bob env A=1 docker -H unix:///s run img")),
            Some(("docker".into(), 8))
        );
        assert_eq!(
            detect(&v("sudo /usr/bin/podman --remote run x")),
            Some(("podman".into(), 3))
        );
        assert_eq!(detect(&v("docker exec x run")), None);
        assert_eq!(detect(&v("docker build .")), None);
        assert_eq!(detect(&v("claude -p")), None);
    }

    #[test]
    fn interactive_flags() {
        assert!(prefix_is_interactive(&v("docker run -i img")));
        assert!(prefix_is_interactive(&v("docker run -it img")));
        assert!(prefix_is_interactive(&v("docker run --interactive img")));
        assert!(!prefix_is_interactive(&v("docker run --init img")));
        assert!(!prefix_is_interactive(&v("docker run -t img")));
    }

    #[test]
    fn only_the_plain_form_gets_a_cidfile() {
        let mut a = v("docker run --rm img agent");
        let r = prepare(&mut a).unwrap_or_else(|| panic!("not detected"));
        assert_eq!(a[2], "--cidfile");
        let dir = r.cid_dir.clone().unwrap_or_default();
        assert!(a[3].starts_with(dir.to_string_lossy().as_ref()));
        drop(r);
        assert!(!dir.exists(), "private dir left behind");
        let mut a = v("sudo docker run img");
        let r = prepare(&mut a).unwrap_or_else(|| panic!("not detected"));
        assert_eq!(a, v("sudo docker run img"));
        assert_eq!(r.stop(), (None, None));
        let mut a = v("docker run --cidfile /x img");
        assert!(prepare(&mut a).is_some_and(|r| r.cid_dir.is_none()));
    }

    #[test]
    fn a_cidfile_that_is_not_an_id_is_not_used() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = d.path().join("cid");
        for bad in ["", "xyz", "abc", &"a".repeat(65), "0123456789ab; rm -rf /"] {
            std::fs::write(&f, bad).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(read_id(&f), None, "{bad}");
        }
        std::fs::write(&f, "0123456789ab\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_id(&f).as_deref(), Some("0123456789ab"));
    }
}
