//! Notifications over https, end to end: the monitor binary posts to a TLS
//! receiver on 127.0.0.1 whose certificate a test CA signed (made with the
//! `openssl` command), trusted through `SSL_CERT_FILE` in the monitor's
//! environment only; a receiver whose certificate another CA signed is
//! refused at once — one attempt, not retried — and recorded as
//! `notify_failed`, and nothing the monitor writes names the URL's path or
//! query.

use crate::notify::{kinds, local_monitor_cmd, Running};
use crate::support::logdir::Fixture;
use crate::support::receiver::{Answer, Receiver};
use crate::support::wait_until;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run 'openssl' ({e}): apt-get install openssl (.ci/run installs it)")
        });
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA (`<ca>.pem`) and the server certificate for localhost and
/// 127.0.0.1 it signed: the rustls server configuration that presents it.
fn pki(dir: &Path, ca: &str) -> Arc<rustls::ServerConfig> {
    let (ca_key, ca_pem) = (format!("{ca}.key"), format!("{ca}.pem"));
    let (key, csr, pem) = (
        format!("{ca}-srv.key"),
        format!("{ca}-srv.csr"),
        format!("{ca}-srv.pem"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let subj = format!("/CN={ca}");
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca_pem,
        "-days",
        "2",
        "-subj",
        &subj,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &a);
    let mut b = vec!["req"];
    b.extend(ec);
    b.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
    openssl(dir, &b);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(dir.join(&pem))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join(&key)).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

#[test]
fn https_reaches_a_trusted_receiver_and_an_untrusted_certificate_is_not_retried() {
    let f = Fixture::new();
    f.metric(5, json!({"disk_used_pct": 97.0, "mem_available_mb": 5000}));
    let pki_dir = f.tmp.path().join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    let trusted = Receiver::start_tls(Answer::Status(200), pki(&pki_dir, "trusted"));
    let stranger = Receiver::start_tls(Answer::Status(200), pki(&pki_dir, "stranger"));
    // By name (SNI, the certificate's DNS name) and by address (its IP name).
    let good = format!(
        "https://localhost:{}/hook?token=SECRET",
        trusted.addr.port()
    );
    let bad = format!(
        "https://127.0.0.1:{}/hook?token=SECRET",
        stranger.addr.port()
    );
    let mut c = local_monitor_cmd(&f, &["--webhook", &good, "--webhook", &bad]);
    c.env("SSL_CERT_FILE", pki_dir.join("trusted.pem"))
        .env_remove("SSL_CERT_DIR");
    let m = Running::start(c);

    assert!(
        wait_until(Duration::from_secs(20), || trusted.requests().len() == 1),
        "nothing reached the trusted receiver\n{}",
        m.stderr()
    );
    let req = &trusted.requests()[0];
    assert_eq!(req.path, "/hook?token=SECRET");
    assert_eq!(
        req.header("Host"),
        Some(format!("localhost:{}", trusted.addr.port()).as_str())
    );
    let v = req.json();
    assert_eq!(
        (v["detector"].as_str(), v["state"].as_str()),
        (Some("disk_critical"), Some("raised"))
    );

    let failed = || -> Vec<serde_json::Value> {
        kinds(&f, "notify_failed")
            .into_iter()
            .filter(|e| {
                e["sink"] == format!("webhook https://127.0.0.1:{}/…", stranger.addr.port())
            })
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(20), || failed().len() == 1),
        "{:?}\n{}",
        kinds(&f, "notify_failed"),
        m.stderr()
    );
    let e = &failed()[0];
    assert_eq!(
        e["attempts"], 1,
        "an untrusted certificate was retried: {e}"
    );
    let error = e["error"].as_str().unwrap_or("");
    assert!(error.contains("certificate"), "{e}");
    // A retry would come 1 s later: none comes.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(stranger.connections.load(Ordering::SeqCst), 1);
    assert!(
        stranger.requests().is_empty(),
        "a request got through an untrusted handshake"
    );
    assert_eq!(trusted.requests().len(), 1);
    assert!(
        kinds(&f, "notify_failed").len() == 1,
        "{:?}",
        kinds(&f, "notify_failed")
    );
    let (err, events) = (m.stderr(), f.events_text());
    assert!(
        err.contains("notification not delivered by webhook https://127.0.0.1:"),
        "{err}"
    );
    for text in [&err, &events] {
        assert!(
            !text.contains("SECRET") && !text.contains("/hook"),
            "{text}"
        );
    }
}
