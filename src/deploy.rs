//! `agent-runner deploy --host HOST`: copy the agent-runner binary that
//! matches the remote architecture to a host over native SSH, verify its
//! SHA-256 there, make it executable and swap it in atomically (`mv -f`), then
//! run `<remote path> --version`.
//!
//! Owns the choice of the local binary (this one, a cross build under
//! `target/<triple>/release/`, or `--binary`) and the remote steps. It must not
//! leave a half-written binary at the final path: everything is written to a
//! temp file in the same directory and renamed only after the checksum matched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use sha2::{Digest, Sha256};

use crate::cli::{CliError, CmdResult};
use crate::ssh::config::{self, ResolveOptions};
use crate::ssh::session::{self, StreamEvent};
use crate::ssh::{ResolvedHost, Session, SshError};

/// Default install path on the remote (`~` is the remote `$HOME`).
pub const DEFAULT_REMOTE_PATH: &str = "~/.local/bin/agent-runner";
/// Deadline for each short remote command.
const SHORT: Duration = Duration::from_secs(30);
/// Deadline for the upload of the whole binary.
const UPLOAD: Duration = Duration::from_secs(300);
/// Bytes per SSH data message during the upload.
const CHUNK: usize = 32 * 1024;

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// SSH alias of the host to deploy to (as you would give it to ssh).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// The host, given without --host (`agent-runner deploy pi`).
    #[arg(
        value_name = "HOST",
        conflicts_with = "host",
        required_unless_present = "host"
    )]
    pub host_arg: Option<String>,
    /// Binary to copy (default: target/<triple>/release/agent-runner next to
    /// this one if it is a static build not older than this one, else this
    /// one if its architecture matches the host's, else that cross build).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Where to install it on the host.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_REMOTE_PATH)]
    pub remote_path: String,
    /// ssh_config file to read instead of ~/.ssh/config (env AGENT_RUNNER_SSH_CONFIG).
    #[arg(long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

/// What can go wrong; each message is one line saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{0}")]
    Ssh(#[from] SshError),
    #[error("cannot resolve '{alias}': {reason}")]
    Resolve { alias: String, reason: String },
    #[error("'{host}' reports the architecture '{arch}', which agent-runner has no build for (supported: x86_64, aarch64, armv7l)")]
    UnknownArch { host: String, arch: String },
    #[error("no agent-runner binary for '{arch}' ('{host}'); build one with 'cargo build --release --target {triple}' or pass --binary PATH")]
    NoBinary {
        host: String,
        arch: String,
        triple: &'static str,
    },
    #[error("'{path}' is not an agent-runner binary for '{arch}' ({reason}); build one with 'cargo build --release --target {triple}'")]
    WrongBinary {
        path: PathBuf,
        arch: String,
        triple: &'static str,
        reason: String,
    },
    #[error("cannot read '{path}': {source}")]
    ReadLocal {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "'{host}': cannot write to '{dir}': {detail}; pick a writable place with --remote-path"
    )]
    NotWritable {
        host: String,
        dir: String,
        detail: String,
    },
    #[error("'{host}': the upload to '{path}' failed: {detail}; retry")]
    Upload {
        host: String,
        path: String,
        detail: String,
    },
    #[error("'{host}': checksum mismatch for '{path}': sent sha256 '{sent}', the host computed '{got}'; nothing was installed, retry the deploy")]
    Checksum {
        host: String,
        path: String,
        sent: String,
        got: String,
    },
    #[error("'{host}': '{what}' failed: {detail}")]
    Remote {
        host: String,
        what: String,
        detail: String,
    },
    #[error("'{host}': the installed '{path}' does not run there ('--version' said: {detail}); check that the binary matches the host")]
    DoesNotRun {
        host: String,
        path: String,
        detail: String,
    },
}

/// A supported target: `uname -m` names, the Rust triple, the ELF machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub triple: &'static str,
    /// ELF `e_machine` of binaries for this target.
    pub elf_machine: u16,
}

/// The target for a `uname -m` answer.
pub fn target_for_arch(arch: &str) -> Option<Target> {
    match arch {
        "x86_64" | "amd64" => Some(Target {
            triple: "x86_64-unknown-linux-gnu",
            elf_machine: 62,
        }),
        "aarch64" | "arm64" => Some(Target {
            triple: "aarch64-unknown-linux-gnu",
            elf_machine: 183,
        }),
        "armv7l" | "armv7" | "armv8l" => Some(Target {
            triple: "armv7-unknown-linux-gnueabihf",
            elf_machine: 40,
        }),
        _ => None,
    }
}

/// What deploy needs to know of a local binary, read from its ELF headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_machine`.
    pub machine: u16,
    /// No `PT_INTERP` program header: the binary needs no dynamic loader, so
    /// it runs whatever the host's libc (the static remote build; on x86_64
    /// a static-pie, which has a `PT_DYNAMIC` but no `PT_INTERP`).
    pub is_static: bool,
}

/// The ELF machine of the file at `path`; Err says why it is not an ELF file.
pub fn elf_machine(path: &Path) -> Result<u16, String> {
    elf_info(path).map(|i| i.machine)
}

/// Machine and linkage of the ELF file at `path`; Err says why it is not one.
pub fn elf_info(path: &Path) -> Result<ElfInfo, String> {
    use std::io::{Read, Seek, SeekFrom};
    /// `p_type` of the program header naming the dynamic loader.
    const PT_INTERP: u64 = 3;
    /// Far more program headers than any linker writes: a corrupt header.
    const MAX_PHNUM: u64 = 512;
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut head = Vec::with_capacity(64);
    (&mut f)
        .take(64)
        .read_to_end(&mut head)
        .map_err(|e| e.to_string())?;
    if head.len() < 20 {
        return Err("too short for an ELF file".into());
    }
    if !head.starts_with(b"\x7fELF") {
        return Err("not an ELF executable".into());
    }
    let le = match head[5] {
        1 => true,
        2 => false,
        _ => return Err("unknown ELF byte order".into()),
    };
    // An unsigned field of the file's byte order.
    let uint = |b: &[u8]| {
        let fold = |n: u64, x: &u8| n << 8 | u64::from(*x);
        if le {
            b.iter().rev().fold(0, fold)
        } else {
            b.iter().fold(0, fold)
        }
    };
    let field = |at: usize, width: usize| head.get(at..at + width).map(uint);
    let machine = u16::try_from(uint(&head[18..20])).unwrap_or_default();
    // e_phoff / e_phentsize / e_phnum sit at different offsets in ELF32 and ELF64.
    let table_at = match head[4] {
        1 => (field(28, 4), field(42, 2), field(44, 2)),
        2 => (field(32, 8), field(54, 2), field(56, 2)),
        _ => (None, None, None),
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = table_at else {
        return Err("truncated or unknown ELF class".into());
    };
    if phnum > MAX_PHNUM || (phnum > 0 && phentsize < 4) {
        return Err("corrupt ELF program headers".into());
    }
    // Both at most 16 bits wide, so the product fits.
    let (entsize, count) = (phentsize as usize, phnum as usize);
    let mut table = vec![0u8; entsize * count];
    f.seek(SeekFrom::Start(phoff))
        .and_then(|_| f.read_exact(&mut table))
        .map_err(|_| "truncated ELF program headers".to_string())?;
    let is_static = !table
        .chunks(entsize.max(1))
        .any(|ph| uint(&ph[..4]) == PT_INTERP);
    Ok(ElfInfo { machine, is_static })
}

fn machine_name(m: u16) -> String {
    match m {
        62 => "x86_64".into(),
        183 => "aarch64".into(),
        40 => "arm".into(),
        3 => "i386".into(),
        other => format!("ELF machine {other}"),
    }
}

/// Where a cross build for `triple` may sit relative to the running binary
/// (`target/release/agent-runner` → `target/<triple>/release/agent-runner`).
pub fn cross_candidates(exe: &Path, triple: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Some(dir) = exe.parent() else {
        return out;
    };
    for anc in dir.ancestors().take(3) {
        for c in [
            anc.join(triple).join("release").join("agent-runner"),
            anc.join("target")
                .join(triple)
                .join("release")
                .join("agent-runner"),
        ] {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// Pick the local binary for `arch` on `host`.
pub fn pick_binary(
    host: &str,
    arch: &str,
    explicit: Option<&Path>,
    exe: Option<&Path>,
) -> Result<PathBuf, DeployError> {
    let t = target_for_arch(arch).ok_or_else(|| DeployError::UnknownArch {
        host: host.into(),
        arch: arch.into(),
    })?;
    let wrong = |p: &Path, reason: String| DeployError::WrongBinary {
        path: p.to_path_buf(),
        arch: arch.into(),
        triple: t.triple,
        reason,
    };
    if let Some(p) = explicit {
        return match elf_machine(p) {
            Ok(m) if m == t.elf_machine => Ok(p.to_path_buf()),
            Ok(m) => Err(wrong(p, format!("it is built for '{}'", machine_name(m)))),
            Err(e) => Err(wrong(p, e)),
        };
    }
    if let Some(exe) = exe {
        let fits = |p: &Path| elf_info(p).ok().filter(|i| i.machine == t.elf_machine);
        let this = fits(exe);
        let builds: Vec<(PathBuf, ElfInfo)> = cross_candidates(exe, t.triple)
            .into_iter()
            .filter_map(|c| fits(&c).map(|i| (c, i)))
            .collect();
        // The static remote build runs on any libc: prefer it to a dynamic
        // binary of the same arch, unless it is older than this one (stale).
        if this.is_some_and(|i| !i.is_static) {
            let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let fresh = |p: &Path| match (mtime(p), mtime(exe)) {
                (Some(a), Some(b)) => a >= b,
                _ => false,
            };
            if let Some((c, _)) = builds.iter().find(|(c, i)| i.is_static && fresh(c)) {
                return Ok(c.clone());
            }
        }
        if this.is_some() {
            return Ok(exe.to_path_buf());
        }
        if let Some((c, _)) = builds.into_iter().next() {
            return Ok(c);
        }
    }
    Err(DeployError::NoBinary {
        host: host.into(),
        arch: arch.into(),
        triple: t.triple,
    })
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

/// What a successful deploy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub arch: String,
    pub local: PathBuf,
    pub remote_path: String,
    pub sha256: String,
    pub version: String,
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

/// Deploy over an open session. `exe` is the running binary (None in tests
/// that want no implicit choice).
pub async fn deploy_with(
    s: &Session,
    explicit: Option<&Path>,
    exe: Option<&Path>,
    remote_path: &str,
) -> Result<Deployed, DeployError> {
    let host = s.alias().to_string();
    let remote = |what: &str, out: &session::Output| DeployError::Remote {
        host: host.clone(),
        what: what.into(),
        detail: format!("exit {:?}: {}", out.status, one_line(&out.stderr)),
    };
    let out = sh(s, "uname -m && printf '%s\\n' \"$HOME\"", &[], SHORT).await?;
    if !out.success() {
        return Err(remote("uname -m", &out));
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let arch = lines.next().unwrap_or("").trim().to_string();
    let home = lines.next().unwrap_or("").trim().to_string();
    let local = pick_binary(&host, &arch, explicit, exe)?;
    let data = std::fs::read(&local).map_err(|e| DeployError::ReadLocal {
        path: local.clone(),
        source: e,
    })?;
    let sent = hex::encode(Sha256::digest(&data));

    if remote_path.starts_with('~') && home.is_empty() {
        return Err(DeployError::Remote {
            host,
            what: "echo $HOME".into(),
            detail: "the host has no $HOME; pass an absolute --remote-path".into(),
        });
    }
    let final_path = expand_home(remote_path, &home);
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
    let tmp = format!(
        "{dir}/.agent-runner.deploy.{}.{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let result = install(s, &data, &sent, &tmp, &final_path).await;
    if result.is_err() {
        let _ = sh(s, "rm -f -- \"$1\"", &[&tmp], SHORT).await;
    }
    result?;
    let out = s.exec(&[&final_path, "--version"], SHORT).await?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.success() || version.is_empty() {
        return Err(DeployError::DoesNotRun {
            host,
            path: final_path,
            detail: format!("exit {:?}, {}", out.status, one_line(&out.stderr)),
        });
    }
    Ok(Deployed {
        arch,
        local,
        remote_path: final_path,
        sha256: sent,
        version,
    })
}

/// Upload to `tmp`, check the checksum there, chmod, rename onto `final_path`.
async fn install(
    s: &Session,
    data: &[u8],
    sent: &str,
    tmp: &str,
    final_path: &str,
) -> Result<(), DeployError> {
    let host = s.alias().to_string();
    upload(s, data, tmp).await?;
    let out = s.exec(&["sha256sum", "--", tmp], SHORT).await?;
    if !out.success() {
        return Err(DeployError::Remote {
            host,
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
            host,
            path: final_path.to_string(),
            sent: sent.to_string(),
            got: if got.is_empty() {
                one_line(&out.stdout).trim_matches('\'').to_string()
            } else {
                got
            },
        });
    }
    let out = sh(
        s,
        "chmod 755 -- \"$1\" && mv -f -- \"$1\" \"$2\"",
        &[tmp, final_path],
        SHORT,
    )
    .await?;
    if !out.success() {
        return Err(DeployError::NotWritable {
            host,
            dir: remote_dir(final_path),
            detail: format!("chmod/mv failed: {}", one_line(&out.stderr)),
        });
    }
    Ok(())
}

async fn connect(alias: &str, ssh_config: Option<&Path>) -> Result<Session, DeployError> {
    let resolve_err = |e: config::SshConfigError| DeployError::Resolve {
        alias: alias.to_string(),
        reason: e.to_string(),
    };
    let ro = ResolveOptions::from_env(ssh_config.map(Path::to_path_buf)).map_err(resolve_err)?;
    let host = config::resolve(alias, &ro).map_err(resolve_err)?;
    let resolver = |a: &str| -> Result<ResolvedHost, SshError> {
        config::resolve(a, &ro).map_err(|e| SshError::Resolve {
            alias: a.to_string(),
            reason: e.to_string(),
        })
    };
    Ok(session::connect(&host, &resolver).await?)
}

/// `agent-runner deploy`.
pub fn cmd_deploy(g: &crate::cli::GlobalArgs, a: &DeployArgs) -> CmdResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))?;
    let Some(alias) = a.host.as_deref().or(a.host_arg.as_deref()) else {
        return Err(CliError::usage(
            "deploy needs a host: 'agent-runner deploy --host HOST'",
        ));
    };
    let exe = std::env::current_exe().ok();
    let r = rt.block_on(async {
        let s = connect(alias, a.ssh_config.as_deref()).await?;
        let r = deploy_with(&s, a.binary.as_deref(), exe.as_deref(), &a.remote_path).await;
        s.close().await;
        r
    });
    let d = r.map_err(|e| CliError::failure(e.to_string()))?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "host": alias,
                "arch": d.arch,
                "local": d.local.to_string_lossy(),
                "remote_path": d.remote_path,
                "sha256": d.sha256,
                "version": d.version,
            })
        );
    } else {
        println!(
            "deployed '{}' to '{}:{}' ({}, sha256 {})",
            d.local.display(),
            alias,
            d.remote_path,
            d.arch,
            d.sha256
        );
        println!("{}", d.version);
    }
    Ok(crate::exit_code::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_map_to_triples() {
        assert_eq!(
            target_for_arch("aarch64").map(|t| t.triple),
            Some("aarch64-unknown-linux-gnu")
        );
        assert_eq!(
            target_for_arch("armv7l").map(|t| t.triple),
            Some("armv7-unknown-linux-gnueabihf")
        );
        assert_eq!(target_for_arch("x86_64").map(|t| t.elf_machine), Some(62));
        assert_eq!(target_for_arch("mips"), None);
    }

    #[test]
    fn this_binary_is_elf_for_this_arch() {
        let exe = std::env::current_exe().unwrap();
        let t = target_for_arch(std::env::consts::ARCH).unwrap();
        assert_eq!(elf_machine(&exe), Ok(t.elf_machine));
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("script");
        std::fs::write(&f, "#!/bin/sh\necho hi\n").unwrap();
        assert!(elf_machine(&f).is_err());
    }

    #[test]
    fn cross_build_found_next_to_release_dir() {
        let c = cross_candidates(
            Path::new("/p/target/release/agent-runner"),
            "aarch64-unknown-linux-gnu",
        );
        assert!(c.contains(&PathBuf::from(
            "/p/target/aarch64-unknown-linux-gnu/release/agent-runner"
        )));
    }

    #[test]
    fn picks_nothing_for_foreign_arch_without_cross_build() {
        let d = tempfile::tempdir().unwrap();
        let exe = d.path().join("agent-runner");
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        let other = if std::env::consts::ARCH == "aarch64" {
            "x86_64"
        } else {
            "aarch64"
        };
        let e = pick_binary("pi", other, None, Some(&exe)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("cargo build --release --target"), "{msg}");
        assert_eq!(
            pick_binary("pi", std::env::consts::ARCH, None, Some(&exe)).unwrap(),
            exe
        );
        let e = pick_binary("pi", other, Some(&exe), None).unwrap_err();
        assert!(e.to_string().contains("is built for"), "{e}");
        let e = pick_binary("pi", "sparc64", None, Some(&exe)).unwrap_err();
        assert!(e.to_string().contains("'sparc64'"), "{e}");
    }

    /// A minimal ELF file: header, then two program headers, PT_PHDR and
    /// PT_INTERP when `interp`, else PT_DYNAMIC as in a static-pie (ELF64
    /// little-endian, or ELF32 big-endian).
    fn fake_elf(path: &Path, elf64: bool, machine: u16, interp: bool) {
        let mut b = vec![0u8; if elf64 { 64 } else { 52 }];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = if elf64 { 2 } else { 1 };
        b[5] = if elf64 { 1 } else { 2 };
        let (entsize, types) = (
            if elf64 { 56u16 } else { 32 },
            [6u32, if interp { 3 } else { 2 }],
        );
        let phoff = b.len();
        if elf64 {
            b[18..20].copy_from_slice(&machine.to_le_bytes());
            b[32..40].copy_from_slice(&(phoff as u64).to_le_bytes());
            b[54..56].copy_from_slice(&entsize.to_le_bytes());
            b[56..58].copy_from_slice(&2u16.to_le_bytes());
        } else {
            b[18..20].copy_from_slice(&machine.to_be_bytes());
            b[28..32].copy_from_slice(&(phoff as u32).to_be_bytes());
            b[42..44].copy_from_slice(&entsize.to_be_bytes());
            b[44..46].copy_from_slice(&2u16.to_be_bytes());
        }
        for t in types {
            let mut ph = vec![0u8; usize::from(entsize)];
            let tb = if elf64 {
                t.to_le_bytes()
            } else {
                t.to_be_bytes()
            };
            ph[..4].copy_from_slice(&tb);
            b.extend(ph);
        }
        std::fs::write(path, b).unwrap();
    }

    #[test]
    fn elf_info_tells_static_from_dynamic() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a");
        fake_elf(&p, true, 183, false);
        let want = ElfInfo {
            machine: 183,
            is_static: true,
        };
        assert_eq!(elf_info(&p), Ok(want));
        fake_elf(&p, true, 62, true);
        assert_eq!(
            elf_info(&p),
            Ok(ElfInfo {
                machine: 62,
                is_static: false
            })
        );
        fake_elf(&p, false, 40, true);
        assert_eq!(
            elf_info(&p),
            Ok(ElfInfo {
                machine: 40,
                is_static: false
            })
        );
        fake_elf(&p, false, 40, false);
        assert_eq!(elf_info(&p).map(|i| i.is_static), Ok(true));
        // program headers cut off: an error, not a guess
        let full = std::fs::read(&p).unwrap();
        std::fs::write(&p, &full[..60]).unwrap();
        assert!(elf_info(&p).unwrap_err().contains("truncated"));
        // this test binary is linked dynamically (it has a loader)
        let exe = std::env::current_exe().unwrap();
        assert!(!elf_info(&exe).unwrap().is_static);
    }

    #[test]
    fn a_fresh_static_build_next_to_this_one_is_preferred() {
        let d = tempfile::tempdir().unwrap();
        let m = target_for_arch("aarch64").unwrap();
        let exe = d.path().join("target/release/agent-runner");
        let cross = d
            .path()
            .join("target")
            .join(m.triple)
            .join("release/agent-runner");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::create_dir_all(cross.parent().unwrap()).unwrap();
        // a dynamic build for the host's arch, and no cross build: this one
        fake_elf(&exe, true, m.elf_machine, true);
        assert_eq!(pick_binary("pi", "aarch64", None, Some(&exe)).unwrap(), exe);
        // a dynamic cross build of the same arch does not win over this one
        fake_elf(&cross, true, m.elf_machine, true);
        assert_eq!(pick_binary("pi", "aarch64", None, Some(&exe)).unwrap(), exe);
        // a static one does, when it is not older than this binary
        fake_elf(&cross, true, m.elf_machine, false);
        let t0 = std::time::SystemTime::now();
        let set = |p: &Path, t| {
            let f = std::fs::File::options().write(true).open(p).unwrap();
            f.set_modified(t).unwrap();
        };
        set(&exe, t0);
        set(&cross, t0 + Duration::from_secs(5));
        assert_eq!(
            pick_binary("pi", "aarch64", None, Some(&exe)).unwrap(),
            cross
        );
        // a stale static build (older than this binary) is passed over
        set(&cross, t0 - Duration::from_secs(60));
        assert_eq!(pick_binary("pi", "aarch64", None, Some(&exe)).unwrap(), exe);
        // a static build of another arch is never picked
        fake_elf(&cross, true, 62, false);
        set(&cross, t0 + Duration::from_secs(5));
        assert_eq!(pick_binary("pi", "aarch64", None, Some(&exe)).unwrap(), exe);
        // --binary wins over everything
        fake_elf(&cross, true, m.elf_machine, false);
        let other = d.path().join("other");
        fake_elf(&other, true, m.elf_machine, true);
        assert_eq!(
            pick_binary("pi", "aarch64", Some(&other), Some(&exe)).unwrap(),
            other
        );
    }

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
    }
}
