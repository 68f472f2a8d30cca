//! Choosing the local binary for a host: its architecture (`uname -m` →
//! Rust triple → ELF machine; the ARMv6 Pis get a reason instead), what an
//! ELF file is built for and whether it is static, and which build to ship
//! (`--binary`, a fresh static cross build next to this one, this binary, or
//! that cross build).

use std::path::{Path, PathBuf};

use super::DeployError;

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

/// A `uname -m` answer of a machine we know but ship no build for: the
/// target that would run there, why ours do not, and how to make one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unbuilt {
    pub triple: &'static str,
    pub elf_machine: u16,
    pub why: &'static str,
    pub how: &'static str,
}

/// Why there is no build for `arch`, when it is a machine we know.
pub fn unbuilt_arch(arch: &str) -> Option<Unbuilt> {
    match arch {
        // Pi Zero, Zero W and Pi 1 report armv6l whatever the OS image.
        "armv6l" | "armv6" => Some(Unbuilt {
            triple: "arm-unknown-linux-gnueabihf",
            elf_machine: 40,
            why: "it is an ARMv6 CPU (Pi Zero, Zero W, Pi 1), and the armv7-unknown-linux-gnueabihf build uses ARMv7 instructions it does not have",
            how: "with an ARMv6 toolchain, e.g. 'cross build --release --target arm-unknown-linux-gnueabihf' (Debian's gcc-arm-linux-gnueabihf and its glibc are ARMv7 and will not do)",
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

/// A host we ship no build for: refused with the reason, unless `--binary`
/// names an ELF file for its machine (run on the host before it is
/// installed, like every deploy, so a binary that cannot run there is
/// never installed).
fn pick_unbuilt(host: &str, arch: &str, explicit: Option<&Path>) -> Result<PathBuf, DeployError> {
    let Some(u) = unbuilt_arch(arch) else {
        return Err(DeployError::UnknownArch {
            host: host.into(),
            arch: arch.into(),
        });
    };
    match explicit.map(|p| (p, elf_machine(p))) {
        Some((p, Ok(m))) if m == u.elf_machine => Ok(p.to_path_buf()),
        Some((p, found)) => Err(DeployError::WrongBinary {
            path: p.to_path_buf(),
            arch: arch.into(),
            triple: u.triple,
            reason: match found {
                Ok(m) => format!("it is built for '{}'", machine_name(m)),
                Err(e) => e,
            },
        }),
        None => Err(DeployError::UnsupportedArch {
            host: host.into(),
            arch: arch.into(),
            why: u.why,
            triple: u.triple,
            how: u.how,
        }),
    }
}

/// Pick the local binary for `arch` on `host`.
pub fn pick_binary(
    host: &str,
    arch: &str,
    explicit: Option<&Path>,
    exe: Option<&Path>,
) -> Result<PathBuf, DeployError> {
    let Some(t) = target_for_arch(arch) else {
        return pick_unbuilt(host, arch, explicit);
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        assert_eq!(target_for_arch("armv6l"), None);
        assert_eq!(
            unbuilt_arch("armv6l").map(|u| u.triple),
            Some("arm-unknown-linux-gnueabihf")
        );
        for a in ["aarch64", "armv7l", "x86_64", "mips"] {
            assert_eq!(unbuilt_arch(a), None, "{a}");
        }
    }

    #[test]
    fn an_armv6_host_is_refused_with_the_reason_and_what_would_run() {
        let d = tempfile::tempdir().unwrap();
        let exe = d.path().join("agent-runner");
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        let msg = pick_binary("pi0", "armv6l", None, Some(&exe))
            .unwrap_err()
            .to_string();
        for want in [
            "'pi0'",
            "'armv6l'",
            "not supported",
            "Pi Zero",
            "ARMv7 instructions",
            "arm-unknown-linux-gnueabihf",
            "--binary",
        ] {
            assert!(msg.contains(want), "{want} not in: {msg}");
        }
        // an ARM binary given with --binary is tried (the host runs it
        // before anything is installed); another machine's is refused
        let arm = d.path().join("arm");
        fake_elf(&arm, false, 40, false);
        assert_eq!(
            pick_binary("pi0", "armv6l", Some(&arm), Some(&exe)).unwrap(),
            arm
        );
        fake_elf(&arm, true, 183, false);
        let msg = pick_binary("pi0", "armv6l", Some(&arm), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("is built for 'aarch64'"), "{msg}");
    }

    #[test]
    fn an_armv7_host_gets_the_armv7_cross_build() {
        let d = tempfile::tempdir().unwrap();
        let exe = d.path().join("target/release/agent-runner");
        let t = target_for_arch("armv7l").unwrap();
        let cross = d
            .path()
            .join("target")
            .join(t.triple)
            .join("release/agent-runner");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::create_dir_all(cross.parent().unwrap()).unwrap();
        fake_elf(&exe, true, 62, true);
        let msg = pick_binary("pi2", "armv7l", None, Some(&exe))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("cargo build --release --target armv7-unknown-linux-gnueabihf"),
            "{msg}"
        );
        fake_elf(&cross, false, 40, false);
        assert_eq!(
            pick_binary("pi2", "armv7l", None, Some(&exe)).unwrap(),
            cross
        );
        // the aarch64 build is not an armv7 one, nor the reverse
        let a64 = d
            .path()
            .join("target/aarch64-unknown-linux-gnu/release/agent-runner");
        std::fs::create_dir_all(a64.parent().unwrap()).unwrap();
        fake_elf(&a64, true, 183, false);
        assert!(pick_binary("pi4", "aarch64", None, Some(&exe)).unwrap() == a64);
        assert!(pick_binary("pi4", "aarch64", Some(&cross), None).is_err());
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
}
