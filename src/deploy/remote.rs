//! The steps of `deploy` on the host, over one SSH session: each is a short
//! remote command built from single-quoted arguments (`sh -c SCRIPT sh ARGS`,
//! the script fixed, the paths passed as arguments).
//!
//! Deploy: `uname -m` and `$HOME`; the target directory created and checked
//! writable; a directory at the target path refused; the binary streamed into
//! a temp file beside the target, fsynced (`sync FILE`), its SHA-256 checked,
//! made executable and run (`--version` must print [`VERSION_LINE`]); then
//! the current binary hard-linked (else copied) to `<target>.prev`, the temp
//! file renamed onto the target with `mv -T` and the directory fsynced. Any
//! failure before the rename removes the temp file and leaves the target as
//! it was. Rollback: `.prev` run, then swapped with the target.

use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{pick_binary, DeployError, Deployed, RolledBack, VERSION_LINE};
use crate::ssh::session::{self, StreamEvent};
use crate::ssh::{Session, SshError};

/// Deadline for each short remote command.
const SHORT: Duration = Duration::from_secs(30);
/// Deadline for the upload of the whole binary.
const UPLOAD: Duration = Duration::from_secs(300);
/// Bytes per SSH data message during the upload.
const CHUNK: usize = 32 * 1024;

/// Where the binary a deploy replaces is kept: `<target>.prev`.
pub fn prev_path(final_path: &str) -> String {
    format!("{final_path}.prev")
}

/// The first word of a `sha256sum` line, lower-cased, if it looks like a digest.
pub fn parse_sha256sum(out: &str) -> Option<String> {
    let w = out.split_whitespace().next()?.trim_start_matches('\\');
    (w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit())).then(|| w.to_ascii_lowercase())
}

/// `remote_path` with a leading `~/` (or a bare `~`) replaced by `home`.
pub fn expand_home(remote_path: &str, home: &str) -> String {
    if remote_path == "~" {
        home.to_string()
    } else if let Some(rest) = remote_path.strip_prefix("~/") {
        format!("{}/{rest}", home.trim_end_matches('/'))
    } else {
        remote_path.to_string()
    }
}

/// The directory part of a remote path (`.` when there is none).
fn remote_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => path[..i].to_string(),
        None => ".".into(),
    }
}

fn one_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.trim();
    let last = s.lines().last().unwrap_or("").trim();
    if last.is_empty() {
        "no output".into()
    } else {
        format!("'{last}'")
    }
}

async fn sh(
    s: &Session,
    script: &str,
    args: &[&str],
    deadline: Duration,
) -> Result<session::Output, SshError> {
    let mut argv = vec!["sh", "-c", script, "sh"];
    argv.extend_from_slice(args);
    s.exec(&argv, deadline).await
}

/// Stream `data` into `sh -c 'head -c N > tmp'` on the host and wait for it
/// to exit (head stops after exactly N bytes, so no EOF is needed).
async fn upload(s: &Session, data: &[u8], tmp: &str) -> Result<(), DeployError> {
    let host = s.alias().to_string();
    let len = data.len().to_string();
    let fail = |detail: String| DeployError::Upload {
        host: host.clone(),
        path: tmp.to_string(),
        detail,
    };
    let run = async {
        let mut st = s
            .open_exec_stream(
                &["sh", "-c", "head -c \"$1\" > \"$2\"", "sh", &len, tmp],
                SHORT,
            )
            .await?;
        for c in data.chunks(CHUNK) {
            st.write(c)
                .await
                .map_err(|e| fail(format!("the channel refused data: {e}")))?;
        }
        let mut stderr = Vec::new();
        let status = loop {
            match st.next().await {
                Some(StreamEvent::Exit(code)) => break Some(code),
                Some(StreamEvent::Signal(sig)) => {
                    return Err(fail(format!("the remote writer died by signal {sig}")))
                }
                Some(StreamEvent::Stderr(b)) => stderr.extend_from_slice(&b),
                Some(StreamEvent::Stdout(_)) => {}
                None => break None,
            }
        };
        st.close().await;
        match status {
            Some(0) => Ok(()),
            Some(code) => Err(DeployError::NotWritable {
                host: host.clone(),
                dir: remote_dir(tmp),
                detail: format!("the writer exited with {code}: {}", one_line(&stderr)),
            }),
            None => Err(fail("the channel closed before the writer exited".into())),
        }
    };
    match tokio::time::timeout(UPLOAD, run).await {
        Ok(r) => r,
        Err(_) => Err(fail(format!("not finished within {}s", UPLOAD.as_secs()))),
    }
}

/// A path the remote shell runs as a file, never looks up on the PATH.
fn runnable(path: &str) -> String {
    if path.contains('/') {
        path.to_string()
    } else {
        format!("./{path}")
    }
}

/// A name beside the target for a file of ours (`.agent-runner.<what>.<pid>.<random>`).
fn scratch(dir: &str, what: &str) -> String {
    format!(
        "{dir}/.agent-runner.{what}.{}.{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// What sits at a remote path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Nothing,
    /// A file, or a symlink that does not lead to a directory.
    File,
    Directory,
}

/// What sits at each of `paths` on the host.
async fn found(s: &Session, paths: &[&str]) -> Result<Vec<Found>, DeployError> {
    let out = sh(
        s,
        "for p; do if [ -d \"$p\" ]; then echo dir; elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo file; else echo none; fi; done",
        paths,
        SHORT,
    )
    .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kinds: Vec<Found> = text
        .lines()
        .filter_map(|l| match l.trim() {
            "dir" => Some(Found::Directory),
            "file" => Some(Found::File),
            "none" => Some(Found::Nothing),
            _ => None,
        })
        .collect();
    if !out.success() || kinds.len() != paths.len() {
        return Err(DeployError::Remote {
            host: s.alias().to_string(),
            what: "test -d/-e".into(),
            detail: format!("exit {:?}: {}", out.status, one_line(&out.stderr)),
        });
    }
    Ok(kinds)
}

/// The host's `uname -m` and `$HOME`.
async fn uname_home(s: &Session) -> Result<(String, String), DeployError> {
    let out = sh(s, "uname -m && printf '%s\\n' \"$HOME\"", &[], SHORT).await?;
    if !out.success() {
        return Err(DeployError::Remote {
            host: s.alias().to_string(),
            what: "uname -m".into(),
            detail: format!("exit {:?}: {}", out.status, one_line(&out.stderr)),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let arch = lines.next().unwrap_or("").trim().to_string();
    let home = lines.next().unwrap_or("").trim().to_string();
    Ok((arch, home))
}

/// The target path with `~` expanded.
fn target_path(host: &str, remote_path: &str, home: &str) -> Result<String, DeployError> {
    if remote_path.starts_with('~') && home.is_empty() {
        return Err(DeployError::Remote {
            host: host.into(),
            what: "echo $HOME".into(),
            detail: "the host has no $HOME; pass an absolute --remote-path".into(),
        });
    }
    Ok(expand_home(remote_path, home))
}

/// Run `<path> --version` on the host: the first line it printed, or why it
/// did not run (for "'--version' <why>").
async fn version_of(s: &Session, path: &str) -> Result<String, String> {
    let out = s
        .exec(&[&runnable(path), "--version"], SHORT)
        .await
        .map_err(|e| format!("could not be run: {e}"))?;
    if !out.success() {
        return Err(match (out.status, &out.signal) {
            (Some(code), _) => format!("exited {code}: {}", one_line(&out.stderr)),
            (None, Some(sig)) => format!("was killed by SIG{sig}"),
            (None, None) => "ended without an exit status".into(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(l) => Ok(l.to_string()),
        None => Err(format!("printed nothing ({})", one_line(&out.stderr))),
    }
}

/// Deploy over an open session (see the module's summary).
pub(super) async fn deploy(
    s: &Session,
    explicit: Option<&Path>,
    exe: Option<&Path>,
    remote_path: &str,
) -> Result<Deployed, DeployError> {
    let host = s.alias().to_string();
    let (arch, home) = uname_home(s).await?;
    let local = pick_binary(&host, &arch, explicit, exe)?;
    let data = std::fs::read(&local).map_err(|e| DeployError::ReadLocal {
        path: local.clone(),
        source: e,
    })?;
    let sent = hex::encode(Sha256::digest(&data));
    let final_path = target_path(&host, remote_path, &home)?;
    let dir = remote_dir(&final_path);
    let out = sh(s, "mkdir -p -- \"$1\" && test -w \"$1\"", &[&dir], SHORT).await?;
    if !out.success() {
        let detail = if out.stderr.is_empty() {
            "not a writable directory".to_string()
        } else {
            one_line(&out.stderr)
        };
        return Err(DeployError::NotWritable { host, dir, detail });
    }
    let prev = prev_path(&final_path);
    let at = found(s, &[&final_path, &prev]).await?;
    for (path, f) in [&final_path, &prev].into_iter().zip(&at) {
        if *f == Found::Directory {
            return Err(DeployError::IsDirectory {
                host,
                path: path.clone(),
            });
        }
    }
    let keep = (at[0] == Found::File).then_some(prev);
    let tmp = scratch(&dir, "deploy");
    let step = Step {
        s,
        host: &host,
        tmp: &tmp,
        final_path: &final_path,
    };
    let result = step.install(&data, &sent, keep.as_deref()).await;
    if result.is_err() {
        let _ = sh(s, "rm -f -- \"$1\"", &[&tmp], SHORT).await;
    }
    Ok(Deployed {
        arch,
        local,
        remote_path: final_path,
        sha256: sent,
        version: result?,
        previous: keep,
    })
}

/// One install: the temp file and the target.
struct Step<'a> {
    s: &'a Session,
    host: &'a str,
    tmp: &'a str,
    final_path: &'a str,
}

impl Step<'_> {
    /// Upload to the temp file, fsync it, check its checksum, run it, keep
    /// the current binary as `keep` (when given) and swap. The version line.
    async fn install(
        &self,
        data: &[u8],
        sent: &str,
        keep: Option<&str>,
    ) -> Result<String, DeployError> {
        let (s, host, tmp, final_path) = (self.s, self.host, self.tmp, self.final_path);
        upload(s, data, tmp).await?;
        // On the disk before anything trusts it (old coreutils and busybox
        // without `sync FILE`: the whole system).
        let out = sh(s, "sync -- \"$1\" 2>/dev/null || sync", &[tmp], SHORT).await?;
        if !out.success() {
            return Err(self.remote("sync", &out));
        }
        self.verify(sent).await?;
        let out = s.exec(&["chmod", "755", "--", tmp], SHORT).await?;
        if !out.success() {
            return Err(DeployError::NotWritable {
                host: host.into(),
                dir: remote_dir(final_path),
                detail: format!("chmod failed: {}", one_line(&out.stderr)),
            });
        }
        let does_not_run = |detail: String| DeployError::DoesNotRun {
            host: host.into(),
            path: final_path.into(),
            detail,
        };
        let version = version_of(s, tmp).await.map_err(does_not_run)?;
        if version != VERSION_LINE {
            return Err(DeployError::WrongVersion {
                host: host.into(),
                path: final_path.into(),
                got: version,
                want: VERSION_LINE,
            });
        }
        let dir = remote_dir(final_path);
        let out = sh(
            s,
            "set -e\nif [ -n \"$3\" ]; then rm -f -- \"$3\"; ln -- \"$2\" \"$3\" 2>/dev/null || cp -p -- \"$2\" \"$3\"; fi\nmv -T -- \"$1\" \"$2\"\nsync -- \"$4\" 2>/dev/null || sync",
            &[tmp, final_path, keep.unwrap_or(""), &dir],
            SHORT,
        )
        .await?;
        if !out.success() {
            return Err(DeployError::NotWritable {
                host: host.into(),
                dir,
                detail: format!(
                    "keeping the previous binary or 'mv -T' failed: {}",
                    one_line(&out.stderr)
                ),
            });
        }
        Ok(version)
    }

    /// The temp file's SHA-256, computed on the host, must be `sent`.
    async fn verify(&self, sent: &str) -> Result<(), DeployError> {
        let out = self.s.exec(&["sha256sum", "--", self.tmp], SHORT).await?;
        if !out.success() {
            return Err(DeployError::Remote {
                host: self.host.into(),
                what: "sha256sum".into(),
                detail: format!(
                    "exit {:?}: {} (the host needs coreutils' sha256sum)",
                    out.status,
                    one_line(&out.stderr)
                ),
            });
        }
        let got = parse_sha256sum(&String::from_utf8_lossy(&out.stdout)).unwrap_or_default();
        if got != sent {
            return Err(DeployError::Checksum {
                host: self.host.into(),
                path: self.final_path.into(),
                sent: sent.to_string(),
                got: if got.is_empty() {
                    one_line(&out.stdout).trim_matches('\'').to_string()
                } else {
                    got
                },
            });
        }
        Ok(())
    }

    fn remote(&self, what: &str, out: &session::Output) -> DeployError {
        DeployError::Remote {
            host: self.host.into(),
            what: what.into(),
            detail: format!("exit {:?}: {}", out.status, one_line(&out.stderr)),
        }
    }
}

/// Put `<remote_path>.prev` back at `remote_path`, keeping what was there as
/// the new `.prev` (so a second rollback undoes the first). The previous
/// binary must run (`--version`) before anything is changed.
pub(super) async fn rollback(s: &Session, remote_path: &str) -> Result<RolledBack, DeployError> {
    let host = s.alias().to_string();
    let (_, home) = uname_home(s).await?;
    let final_path = target_path(&host, remote_path, &home)?;
    let prev = prev_path(&final_path);
    let at = found(s, &[&final_path, &prev]).await?;
    for (path, f) in [&final_path, &prev].into_iter().zip(&at) {
        if *f == Found::Directory {
            return Err(DeployError::IsDirectory {
                host,
                path: path.clone(),
            });
        }
    }
    if at[1] == Found::Nothing {
        return Err(DeployError::NoPrevious { host, prev });
    }
    let version = version_of(s, &prev)
        .await
        .map_err(|detail| DeployError::PreviousDoesNotRun {
            host: host.clone(),
            prev: prev.clone(),
            detail,
        })?;
    let dir = remote_dir(&final_path);
    let swap = scratch(&dir, "rollback");
    let keep = at[0] == Found::File;
    let out = sh(
        s,
        "set -e\nif [ \"$4\" = keep ]; then\n  ln -- \"$1\" \"$3\" 2>/dev/null || cp -p -- \"$1\" \"$3\"\n  mv -T -- \"$2\" \"$1\"\n  mv -T -- \"$3\" \"$2\"\nelse\n  mv -T -- \"$2\" \"$1\"\nfi\nsync -- \"$5\" 2>/dev/null || sync",
        &[&final_path, &prev, &swap, if keep { "keep" } else { "" }, &dir],
        SHORT,
    )
    .await?;
    if !out.success() {
        return Err(DeployError::Remote {
            host,
            what: "mv -T".into(),
            detail: format!(
                "{} (if '{swap}' exists, it holds the binary that was at '{final_path}')",
                one_line(&out.stderr)
            ),
        });
    }
    Ok(RolledBack {
        remote_path: final_path,
        previous: keep.then_some(prev),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sum_output_and_paths() {
        let h = "a".repeat(64);
        assert_eq!(parse_sha256sum(&format!("{h}  /x/y\n")), Some(h.clone()));
        assert_eq!(parse_sha256sum(&format!("\\{h}  /x\\ny\n")), Some(h));
        assert_eq!(parse_sha256sum("nope  /x"), None);
        assert_eq!(parse_sha256sum(""), None);
        assert_eq!(
            expand_home("~/.local/bin/a", "/home/u/"),
            "/home/u/.local/bin/a"
        );
        assert_eq!(expand_home("/opt/a", "/home/u"), "/opt/a");
        assert_eq!(remote_dir("/opt/a"), "/opt");
        assert_eq!(remote_dir("/a"), "/");
        assert_eq!(remote_dir("a"), ".");
        assert_eq!(prev_path("/opt/a"), "/opt/a.prev");
        assert_eq!(runnable("a.prev"), "./a.prev");
        assert_eq!(runnable("/opt/a.prev"), "/opt/a.prev");
    }
}
