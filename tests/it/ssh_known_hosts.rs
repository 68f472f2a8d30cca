//! Host-key policy against a real sshd: changed keys refused under every
//! setting, unknown keys refused under yes/ask with the fingerprint and the
//! command to trust them, learned under accept-new (0600, then trusted),
//! accepted without writing under no; hashed entries interoperate with
//! OpenSSH's `ssh-keygen -F`.

use crate::support::sshd;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use agent_runner::ssh::known_hosts::{HostKeyError, Verdict};
use agent_runner::ssh::session::{connect, SshError};
use agent_runner::ssh::StrictHostKeyChecking;
use sshd::{no_resolver, Harness};

fn hk(e: &SshError) -> Option<&HostKeyError> {
    match e {
        SshError::HostKey { source, .. } => Some(source),
        _ => None,
    }
}

/// `SHA256:…` of a public key file, as OpenSSH prints it.
fn fingerprint(pubfile: &std::path::Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubfile)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn changed_host_key_is_refused_under_every_setting() {
    let h = Harness::new();
    let other = h.root.path().join("other_host_key");
    sshd::keygen(&other, "ed25519", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_pub: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let kh = h.root.path().join("kh_changed");
    let text = format!("# first line\n{} {}\n", h.pi.kh_name(), other_pub.join(" "));
    std::fs::write(&kh, &text).unwrap();
    let offered = fingerprint(&h.pi.host_key.with_extension("pub"));
    for policy in [
        StrictHostKeyChecking::Yes,
        StrictHostKeyChecking::Ask,
        StrictHostKeyChecking::AcceptNew,
        StrictHostKeyChecking::No,
    ] {
        let mut host = h.pi_host();
        host.user_known_hosts_files = vec![kh.clone()];
        host.strict_host_key_checking = policy;
        let err = connect(&host, &no_resolver()).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(hk(&err), Some(HostKeyError::Changed { line: 2, .. })),
            "{policy:?}: {msg}"
        );
        assert!(
            msg.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{msg}"
        );
        assert!(msg.contains(&format!("'{}' line 2", kh.display())), "{msg}");
        assert!(msg.contains(&offered), "{msg}");
        assert_eq!(
            std::fs::read_to_string(&kh).unwrap(),
            text,
            "file touched under {policy:?}"
        );
    }
}

#[tokio::test]
async fn unknown_host_refused_under_yes_and_ask_with_fingerprint_and_remedy() {
    let h = Harness::new();
    let kh = h.root.path().join("kh_empty");
    let offered = fingerprint(&h.pi.host_key.with_extension("pub"));
    for policy in [StrictHostKeyChecking::Yes, StrictHostKeyChecking::Ask] {
        let mut host = h.pi_host();
        host.user_known_hosts_files = vec![kh.clone()];
        host.strict_host_key_checking = policy;
        let err = connect(&host, &no_resolver()).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(hk(&err), Some(HostKeyError::Unknown { .. })),
            "{msg}"
        );
        assert!(msg.contains(&offered), "{msg}");
        assert!(
            msg.contains(&format!(
                "ssh-keyscan -p {} -t ed25519 127.0.0.1 >> {}",
                h.pi.port,
                kh.display()
            )),
            "{msg}"
        );
        assert!(
            msg.contains("ssh -o StrictHostKeyChecking=accept-new pi true"),
            "{msg}"
        );
        assert!(!kh.exists(), "nothing may be written under {policy:?}");
    }
}

#[tokio::test]
async fn accept_new_learns_0600_then_trusts() {
    let h = Harness::new();
    let kh = h.root.path().join("fresh/dir/known_hosts");
    let mut host = h.pi_host();
    host.user_known_hosts_files = vec![kh.clone()];
    host.strict_host_key_checking = StrictHostKeyChecking::AcceptNew;
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(s.host_key(), &Verdict::Learned(kh.clone()));
    s.close().await;
    let mode = std::fs::metadata(&kh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(text, format!("{} {}\n", h.pi.kh_name(), h.pi.host_pub()));
    // Next connection under `yes` trusts it.
    host.strict_host_key_checking = StrictHostKeyChecking::Yes;
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(s.host_key(), &Verdict::Known);
    // OpenSSH agrees with what we wrote.
    let st = Command::new("ssh-keygen")
        .args(["-F", &h.pi.kh_name(), "-f"])
        .arg(&kh)
        .output()
        .unwrap();
    assert!(st.status.success() && !st.stdout.is_empty());
}

#[tokio::test]
async fn accept_new_with_hash_known_hosts_writes_a_hash_openssh_can_find() {
    let h = Harness::new();
    let kh = h.root.path().join("kh_hashed");
    let mut host = h.pi_host();
    host.user_known_hosts_files = vec![kh.clone()];
    host.strict_host_key_checking = StrictHostKeyChecking::AcceptNew;
    host.hash_known_hosts = true;
    connect(&host, &no_resolver()).await.unwrap();
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    let st = Command::new("ssh-keygen")
        .args(["-F", &h.pi.kh_name(), "-f"])
        .arg(&kh)
        .output()
        .unwrap();
    assert!(
        st.status.success() && !st.stdout.is_empty(),
        "ssh-keygen -F did not find our hashed entry"
    );
    host.strict_host_key_checking = StrictHostKeyChecking::Yes;
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(s.host_key(), &Verdict::Known);
}

#[tokio::test]
async fn openssh_hashed_file_and_patterns_are_understood() {
    let h = Harness::new();
    // A file hashed by OpenSSH itself.
    let kh = h.root.path().join("kh_openssh_hashed");
    std::fs::write(&kh, format!("{} {}\n", h.pi.kh_name(), h.pi.host_pub())).unwrap();
    let st = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&kh)
        .output()
        .unwrap();
    assert!(st.status.success());
    assert!(std::fs::read_to_string(&kh).unwrap().starts_with("|1|"));
    let mut host = h.pi_host();
    host.user_known_hosts_files = vec![kh.clone()];
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(s.host_key(), &Verdict::Known);

    // A wildcard pattern with a negation that excludes us.
    let kh2 = h.root.path().join("kh_patterns");
    std::fs::write(
        &kh2,
        format!("[127.0.0.?]:*,!{} {}\n", h.pi.kh_name(), h.pi.host_pub()),
    )
    .unwrap();
    host.user_known_hosts_files = vec![kh2.clone()];
    let err = connect(&host, &no_resolver()).await.unwrap_err();
    assert!(
        matches!(hk(&err), Some(HostKeyError::Unknown { .. })),
        "{err}"
    );
    // Without the negation the wildcard matches.
    std::fs::write(&kh2, format!("other,[127.0.0.?]:* {}\n", h.pi.host_pub())).unwrap();
    connect(&host, &no_resolver()).await.unwrap();

    // HostKeyAlias: looked up verbatim, without the port.
    std::fs::write(&kh2, format!("mypi {}\n", h.pi.host_pub())).unwrap();
    host.host_key_alias = Some("mypi".into());
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(s.host_key(), &Verdict::Known);
}

#[tokio::test]
async fn revoked_key_is_refused_even_under_no() {
    let h = Harness::new();
    let kh = h.root.path().join("kh_revoked");
    std::fs::write(&kh, format!("@revoked * {}\n", h.pi.host_pub())).unwrap();
    let mut host = h.pi_host();
    host.user_known_hosts_files = vec![kh];
    host.strict_host_key_checking = StrictHostKeyChecking::No;
    let err = connect(&host, &no_resolver()).await.unwrap_err();
    assert!(
        matches!(hk(&err), Some(HostKeyError::Revoked { line: 1, .. })),
        "{err}"
    );
}

#[tokio::test]
async fn no_accepts_unknown_without_writing() {
    let h = Harness::new();
    let kh = h.root.path().join("kh_none");
    let mut host = h.pi_host();
    host.user_known_hosts_files = vec![kh.clone()];
    host.strict_host_key_checking = StrictHostKeyChecking::No;
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(s.host_key(), &Verdict::AcceptedUnrecorded);
    assert!(!kh.exists());
}

#[tokio::test]
async fn host_known_only_by_its_ecdsa_key_is_verified_with_it() {
    // The server offers ed25519 and ECDSA; only ECDSA is recorded. We must
    // ask for ECDSA (not call the host unknown, not learn a second key).
    let h = Harness::new();
    let kh = h.root.path().join("kh_ecdsa_only");
    let text = format!("{} {}\n", h.pi.kh_name(), h.pi.host_pub_ecdsa());
    std::fs::write(&kh, &text).unwrap();
    let mut host = h.pi_host();
    host.user_known_hosts_files = vec![kh.clone()];
    host.strict_host_key_checking = StrictHostKeyChecking::AcceptNew;
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(s.host_key(), &Verdict::Known);
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), text);
}
