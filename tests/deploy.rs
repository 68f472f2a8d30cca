//! `agent-runner deploy --host pi` against a real OpenSSH sshd on loopback
//! (the harness in `tests/common/sshd.rs`): the binary lands at the remote
//! path with the same SHA-256, runs there, and failures (a lying
//! `sha256sum`, an unwritable directory, no binary for the remote arch) are
//! reported in one line with nothing half-installed.

#[path = "common/sshd.rs"]
mod sshd;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_agent-runner");

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
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write shim");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod shim");
}

/// A copy of this build in a directory of its own: what deploy picks by
/// default must not depend on the builds under this checkout's target/.
fn lone_copy(h: &sshd::Harness) -> PathBuf {
    let lone = h.root.path().join("lone");
    std::fs::create_dir_all(&lone).expect("mkdir lone");
    let bin = lone.join("agent-runner");
    std::fs::copy(BIN, &bin).expect("copy the binary");
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
    // Only the binary: the temp file was renamed, not left behind.
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
    use std::os::unix::fs::MetadataExt;
    let after = std::fs::metadata(&dest).unwrap();
    assert_ne!(
        before.ino(),
        after.ino(),
        "the file was swapped, not rewritten"
    );
    assert_eq!(leftovers(dest.parent().unwrap()), ["agent-runner"]);
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
    shim(
        &h,
        "uname",
        &format!("if [ \"$1\" = -m ]; then echo {foreign}; else exec /bin/uname \"$@\"; fi"),
    );
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
    std::fs::copy(BIN, &this).unwrap();
    let src = h.root.path().join("static.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void) { puts(\"agent-runner 0.0.0-static\"); return 0; }\n",
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
    assert!(so.contains("agent-runner 0.0.0-static"), "{so}");
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
