//! `agent-runner deploy --host pi` against a real OpenSSH sshd on loopback
//! (the harness in `tests/it/support/sshd.rs`): the binary lands at the remote
//! path with the same SHA-256, runs there, and failures (a lying
//! `sha256sum`, an unwritable directory, no binary for the remote arch) are
//! reported in one line with nothing half-installed. The host's `uname -m`
//! picks the build (`armv7l` gets the armv7 one; `armv6l` is refused with
//! the reason). A binary that does not run on the host (truncated, failing,
//! another version) leaves the old one in place byte for byte; the old one
//! is kept as `.prev` and `--rollback` swaps it back; a directory at the
//! target path is refused.

use crate::support::sshd;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use crate::support::BIN;

fn deploy(h: &sshd::Harness, bin: &str, extra: &[&str]) -> Output {
    Command::new(bin)
        .env("HOME", &h.home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("AGENT_RUNNER_SSH_CONFIG")
        .arg("deploy")
        .args(["--host", "pi", "--ssh-config"])
        .arg(&h.client_config)
        .args(extra)
        .output()
        .expect("run agent-runner deploy")
}

fn sha256_of(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).expect("read file")))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A script on the remote PATH (the harness prepends `remote_bin`).
fn shim(h: &sshd::Harness, name: &str, body: &str) {
    let p = h.remote_bin.join(name);
    crate::support::write_exec(&p, format!("#!/bin/sh\n{body}\n"));
}

/// The remote `uname -m` says `arch` (the rest of uname is the real one).
fn uname_m(h: &sshd::Harness, arch: &str) {
    shim(
        h,
        "uname",
        &format!("if [ \"$1\" = -m ]; then echo {arch}; else exec /bin/uname \"$@\"; fi"),
    );
}

/// A copy of this build in a directory of its own: what deploy picks by
/// default must not depend on the builds under this checkout's target/.
fn lone_copy(h: &sshd::Harness) -> PathBuf {
    let lone = h.root.path().join("lone");
    std::fs::create_dir_all(&lone).expect("mkdir lone");
    let bin = lone.join("agent-runner");
    crate::support::copy_exec(Path::new(BIN), &bin);
    bin
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn deploys_this_build_with_matching_checksum_and_it_runs() {
    let h = sshd::Harness::new();
    // A directory that does not exist yet: deploy creates it.
    let dest = h.root.path().join("remote/opt/bin/agent-runner");
    let bin = lone_copy(&h);
    let bin = bin.to_str().unwrap();
    let out = deploy(&h, bin, &["--remote-path", dest.to_str().unwrap()]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {so}\nstderr: {se}");
    assert_eq!(sha256_of(&dest), sha256_of(Path::new(BIN)));
    assert!(so.contains(&sha256_of(Path::new(BIN))), "{so}");
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
    // The remote `--version` was run and printed.
    let want = format!("agent-runner {}", env!("CARGO_PKG_VERSION"));
    assert!(so.lines().any(|l| l.trim() == want), "{so}");
    // Only the binary: the temp file was renamed, not left behind (and there
    // was no previous binary to keep).
    assert_eq!(leftovers(dest.parent().unwrap()), ["agent-runner"]);

    // A second deploy replaces the file in place (atomic rename onto it),
    // here as JSON.
    let before = std::fs::metadata(&dest).unwrap();
    let out = deploy(
        &h,
        bin,
        &["--remote-path", dest.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["host"], "pi");
    assert_eq!(v["arch"], std::env::consts::ARCH);
    assert_eq!(v["sha256"], sha256_of(Path::new(BIN)));
    assert_eq!(v["version"], want);
    let prev = format!("{}.prev", dest.display());
    assert_eq!(v["previous"], prev.as_str());
    use std::os::unix::fs::MetadataExt;
    let after = std::fs::metadata(&dest).unwrap();
    assert_ne!(
        before.ino(),
        after.ino(),
        "the file was swapped, not rewritten"
    );
    // The replaced binary is kept next to it.
    assert_eq!(
        std::fs::metadata(&prev).unwrap().ino(),
        before.ino(),
        "'.prev' is the replaced file"
    );
    let mut left = leftovers(dest.parent().unwrap());
    left.sort();
    assert_eq!(left, ["agent-runner", "agent-runner.prev"]);
}

#[test]
fn a_corrupted_transfer_is_detected_and_nothing_is_installed() {
    let h = sshd::Harness::new();
    // The remote sha256sum lies: as if the bytes were damaged on the way.
    shim(
        &h,
        "sha256sum",
        "echo 0000000000000000000000000000000000000000000000000000000000000000  \"$2\"",
    );
    let dir = h.root.path().join("remote/bin");
    let dest = dir.join("agent-runner");
    let bin = lone_copy(&h);
    let out = deploy(
        &h,
        bin.to_str().unwrap(),
        &["--remote-path", dest.to_str().unwrap()],
    );
    let se = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("checksum mismatch"), "{se}");
    assert!(se.contains(&sha256_of(Path::new(BIN))), "{se}");
    assert_eq!(se.trim().lines().count(), 1, "one line: {se}");
    assert!(!dest.exists(), "nothing may be installed after a mismatch");
    assert!(
        leftovers(&dir).is_empty(),
        "temp file left: {:?}",
        leftovers(&dir)
    );
}

#[test]
fn an_unwritable_remote_path_is_reported() {
    let h = sshd::Harness::new();
    // A regular file where the directory should be: mkdir -p fails (the
    // remote user is root, so permissions alone would not stop it).
    let blocker = h.root.path().join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    let dest = blocker.join("bin/agent-runner");
    let out = deploy(&h, BIN, &["--remote-path", dest.to_str().unwrap()]);
    let se = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("cannot write to"), "{se}");
    assert!(se.contains("--remote-path"), "{se}");
    assert_eq!(se.trim().lines().count(), 1, "one line: {se}");
}

#[test]
fn no_binary_for_the_remote_arch_says_how_to_build_one() {
    let h = sshd::Harness::new();
    let foreign = if std::env::consts::ARCH == "aarch64" {
        "x86_64"
    } else {
        "aarch64"
    };
    let triple = if foreign == "aarch64" {
        "aarch64-unknown-linux-gnu"
    } else {
        "x86_64-unknown-linux-gnu"
    };
    // The host says it is the other architecture.
    uname_m(&h, foreign);
    // Run a copy of this build from a directory with no target/<triple>
    // neighbours, so no cross build can be found.
    let bin = lone_copy(&h);
    let dest = h.root.path().join("remote/bin/agent-runner");
    let out = deploy(
        &h,
        bin.to_str().unwrap(),
        &["--remote-path", dest.to_str().unwrap()],
    );
    let se = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(
        se.contains(&format!("cargo build --release --target {triple}")),
        "{se}"
    );
    assert_eq!(se.trim().lines().count(), 1, "one line: {se}");
    assert!(!dest.exists());

    // --binary with the wrong architecture is refused too.
    let out = deploy(
        &h,
        BIN,
        &["--remote-path", dest.to_str().unwrap(), "--binary", BIN],
    );
    let se = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("is built for"), "{se}");
    assert!(!dest.exists());
}

/// The header of a static 32-bit ARM ELF executable (no program headers):
/// what deploy's local checks read; it cannot run anywhere.
fn arm_elf_header(path: &Path) {
    let mut b = vec![0u8; 52];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 1; // ELF32
    b[5] = 1; // little-endian
    b[6] = 1; // version
    b[16] = 2; // ET_EXEC
    b[18..20].copy_from_slice(&40u16.to_le_bytes()); // EM_ARM
    b[40..42].copy_from_slice(&52u16.to_le_bytes()); // e_ehsize
    b[42..44].copy_from_slice(&32u16.to_le_bytes()); // e_phentsize
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    crate::support::write_exec(path, b);
}

#[test]
fn the_host_uname_picks_the_armv7_build_and_armv6_is_refused() {
    let h = sshd::Harness::new();
    // A checkout with this build and the armv7 build next to it.
    let t = h.root.path().join("checkout/target");
    let this = t.join("release/agent-runner");
    std::fs::create_dir_all(this.parent().unwrap()).unwrap();
    crate::support::copy_exec(Path::new(BIN), &this);
    arm_elf_header(&t.join("armv7-unknown-linux-gnueabihf/release/agent-runner"));
    let dest = h.root.path().join("remote/bin/agent-runner");

    // A Pi Zero (armv6l): refused before anything is sent, with the reason.
    uname_m(&h, "armv6l");
    let out = deploy(
        &h,
        this.to_str().unwrap(),
        &["--remote-path", dest.to_str().unwrap()],
    );
    let se = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{se}");
    for want in [
        "'armv6l'",
        "not supported",
        "ARMv6",
        "arm-unknown-linux-gnueabihf",
    ] {
        assert!(se.contains(want), "{want} not in: {se}");
    }
    assert_eq!(se.trim().lines().count(), 1, "one line: {se}");
    assert!(!dest.exists());
    assert!(leftovers(&h.root.path().join("remote/bin")).is_empty());

    // A 32-bit Pi OS (armv7l): the armv7 build is the one sent, not this
    // x86_64/aarch64 one (which would run here and be installed); this
    // stand-in cannot run, so the host refuses it and nothing is installed.
    uname_m(&h, "armv7l");
    let out = deploy(
        &h,
        this.to_str().unwrap(),
        &["--remote-path", dest.to_str().unwrap()],
    );
    let se = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(
        se.contains("the uploaded binary does not run there"),
        "{se}"
    );
    assert!(!dest.exists());
}

#[test]
fn a_fresh_static_build_next_to_this_one_is_what_deploy_ships() {
    let h = sshd::Harness::new();
    // target/release/agent-runner (this build, dynamic) and, next to it,
    // target/<this triple>/release/agent-runner: a static-pie executable (a
    // small C program built with `gcc -static-pie`) standing in for the
    // remote build (`+crt-static`, which is a static-pie).
    let triple = match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-gnu",
        _ => "x86_64-unknown-linux-gnu",
    };
    let t = h.root.path().join("checkout/target");
    let this = t.join("release/agent-runner");
    let cross = t.join(triple).join("release/agent-runner");
    std::fs::create_dir_all(this.parent().unwrap()).unwrap();
    std::fs::create_dir_all(cross.parent().unwrap()).unwrap();
    crate::support::copy_exec(Path::new(BIN), &this);
    // It reports this build's version, as deploy requires.
    let src = h.root.path().join("static.c");
    std::fs::write(
        &src,
        format!(
            "#include <stdio.h>\nint main(void) {{ puts(\"{}\"); return 0; }}\n",
            this_version()
        ),
    )
    .unwrap();
    let cc = Command::new("gcc")
        .args(["-static-pie", "-O1", "-o"])
        .arg(&cross)
        .arg(&src)
        .output()
        .expect("gcc (apt-get install gcc libc6-dev) builds the static stand-in");
    assert!(cc.status.success(), "gcc -static-pie: {}", text(&cc.stderr));
    let dest = h.root.path().join("remote/bin/agent-runner");
    let run = || {
        let out = deploy(
            &h,
            this.to_str().unwrap(),
            &["--remote-path", dest.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    // Built after this binary: it is the one shipped.
    let so = run();
    assert_eq!(sha256_of(&dest), sha256_of(&cross), "{so}");
    assert!(so.contains(&sha256_of(&cross)), "{so}");
    // Older than this binary (stale): this binary is shipped instead.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&cross)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let so = run();
    assert_eq!(sha256_of(&dest), sha256_of(Path::new(BIN)), "{so}");
}

/// What this build's `--version` prints.
fn this_version() -> String {
    format!("agent-runner {}", env!("CARGO_PKG_VERSION"))
}

/// A small C program for this machine, built with gcc: an ELF binary of the
/// host's architecture that deploy's local checks accept.
fn c_program(h: &sshd::Harness, name: &str, main_body: &str) -> PathBuf {
    let src = h.root.path().join(format!("{name}.c"));
    std::fs::write(
        &src,
        format!("#include <stdio.h>\nint main(void) {{ {main_body} }}\n"),
    )
    .expect("write C source");
    let out = h.root.path().join(name);
    let cc = Command::new("gcc")
        .args(["-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("gcc (apt-get install gcc libc6-dev) builds the test binaries");
    assert!(cc.status.success(), "gcc: {}", text(&cc.stderr));
    out
}

/// An "old" agent-runner at `dest`: a script that runs and says its version.
fn old_binary(dest: &Path) -> Vec<u8> {
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let bytes = b"#!/bin/sh\necho 'agent-runner 0.0.1-old'\n".to_vec();
    crate::support::write_exec(dest, &bytes);
    bytes
}

fn sorted_leftovers(dir: &Path) -> Vec<String> {
    let mut l = leftovers(dir);
    l.sort();
    l
}

#[test]
fn a_binary_that_cannot_run_on_the_host_leaves_the_old_one_in_place() {
    let h = sshd::Harness::new();
    let dir = h.root.path().join("remote/bin");
    let dest = dir.join("agent-runner");
    let old = old_binary(&dest);
    let d = dest.to_str().unwrap();

    // A truncated copy of this build: its ELF headers pass the local check,
    // the checksum matches what was sent, but it cannot run.
    let full = std::fs::read(BIN).unwrap();
    let truncated = h.root.path().join("truncated");
    std::fs::write(&truncated, &full[..full.len().min(256 * 1024)]).unwrap();
    // A binary that fails, and one of another version.
    let failing = c_program(&h, "failing", "fputs(\"boom\\n\", stderr); return 1;");
    let other = c_program(&h, "other", "puts(\"agent-runner 0.0.0\"); return 0;");

    for (bin, why) in [
        (&truncated, "does not run"),
        (&failing, "does not run"),
        (&other, "'agent-runner 0.0.0'"),
    ] {
        let out = deploy(
            &h,
            BIN,
            &["--remote-path", d, "--binary", bin.to_str().unwrap()],
        );
        let se = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {se}", bin.display());
        assert!(se.contains(why), "{se}");
        assert!(se.contains("nothing was installed"), "{se}");
        assert!(se.contains(&format!("'{d}' is unchanged")), "{se}");
        assert_eq!(se.trim().lines().count(), 1, "one line: {se}");
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            old,
            "the old binary, byte for byte"
        );
        assert_eq!(
            sorted_leftovers(&dir),
            ["agent-runner"],
            "no temp file, no .prev"
        );
    }
    let out = deploy(
        &h,
        BIN,
        &["--remote-path", d, "--binary", failing.to_str().unwrap()],
    );
    assert!(
        text(&out.stderr).contains("'boom'"),
        "says why: {}",
        text(&out.stderr)
    );
    let out = deploy(
        &h,
        BIN,
        &["--remote-path", d, "--binary", other.to_str().unwrap()],
    );
    assert!(
        text(&out.stderr).contains(&this_version()),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_previous_binary_is_kept_and_rollback_swaps_it_back() {
    let h = sshd::Harness::new();
    let dir = h.root.path().join("remote/bin");
    let dest = dir.join("agent-runner");
    let prev = dir.join("agent-runner.prev");
    let old = old_binary(&dest);
    let new = std::fs::read(BIN).unwrap();
    let bin = lone_copy(&h);
    let d = dest.to_str().unwrap();

    let out = deploy(&h, bin.to_str().unwrap(), &["--remote-path", d, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["previous"], prev.to_str().unwrap());
    assert_eq!(std::fs::read(&dest).unwrap(), new);
    assert_eq!(
        std::fs::read(&prev).unwrap(),
        old,
        ".prev holds the old bytes"
    );
    assert_eq!(
        sorted_leftovers(&dir),
        ["agent-runner", "agent-runner.prev"]
    );

    // --rollback puts the old one back, keeping the new one as .prev.
    let out = deploy(&h, BIN, &["--remote-path", d, "--rollback"]);
    let so = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{so}{}", text(&out.stderr));
    assert!(so.contains("rolled back"), "{so}");
    assert!(so.contains("agent-runner 0.0.1-old"), "{so}");
    assert_eq!(std::fs::read(&dest).unwrap(), old);
    assert_eq!(std::fs::read(&prev).unwrap(), new);
    assert_eq!(
        sorted_leftovers(&dir),
        ["agent-runner", "agent-runner.prev"]
    );

    // Twice: back to the new one (here as JSON).
    let out = deploy(&h, BIN, &["--remote-path", d, "--rollback", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["rollback"], true);
    assert_eq!(v["remote_path"], d);
    assert_eq!(v["previous"], prev.to_str().unwrap());
    assert_eq!(v["version"], this_version());
    assert_eq!(std::fs::read(&dest).unwrap(), new);
    assert_eq!(std::fs::read(&prev).unwrap(), old);

    // No .prev: refused, nothing touched.
    let bare = h.root.path().join("remote/other/agent-runner");
    let only = old_binary(&bare);
    let out = deploy(
        &h,
        BIN,
        &["--remote-path", bare.to_str().unwrap(), "--rollback"],
    );
    let se = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("no previous binary"), "{se}");
    assert!(se.contains("agent-runner.prev"), "{se}");
    assert_eq!(se.trim().lines().count(), 1, "one line: {se}");
    assert_eq!(std::fs::read(&bare).unwrap(), only);
}

#[test]
fn a_directory_at_the_target_path_is_refused() {
    let h = sshd::Harness::new();
    let dest = h.root.path().join("remote/bin/agent-runner");
    std::fs::create_dir_all(&dest).unwrap();
    let bin = lone_copy(&h);
    let out = deploy(
        &h,
        bin.to_str().unwrap(),
        &["--remote-path", dest.to_str().unwrap()],
    );
    let se = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("is a directory"), "{se}");
    assert_eq!(se.trim().lines().count(), 1, "one line: {se}");
    assert!(dest.is_dir());
    assert!(
        leftovers(&dest).is_empty(),
        "moved inside: {:?}",
        leftovers(&dest)
    );
    assert_eq!(
        sorted_leftovers(dest.parent().unwrap()),
        ["agent-runner"],
        "no temp file left"
    );
    // --rollback onto a directory is refused the same way.
    let out = deploy(
        &h,
        BIN,
        &["--remote-path", dest.to_str().unwrap(), "--rollback"],
    );
    let se = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("is a directory"), "{se}");
}
