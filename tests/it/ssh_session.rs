//! Sessions against real OpenSSH sshd instances: key and agent auth, jump
//! hosts, ProxyCommand, many channels per session, deadlines, liveness,
//! remote quoting.

use crate::support::sshd;

use std::time::{Duration, Instant};

use agent_runner::ssh::auth::AuthError;
use agent_runner::ssh::config::{self, ResolveOptions};
use agent_runner::ssh::session::{connect, SshError};
use agent_runner::ssh::ResolvedHost;
use sshd::{no_resolver, Agent, Harness};

#[tokio::test]
async fn connect_by_alias_with_key_auth_runs_echo() {
    let h = Harness::new();
    let ro = ResolveOptions {
        config_file: Some(h.client_config.clone()),
        home: h.home.clone(),
        local_user: "root".into(),
        system_file: h.root.path().join("no-system-config"),
    };
    let host = config::resolve("pi", &ro).unwrap();
    assert_eq!(host.port, h.pi.port);
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert!(
        s.authenticated_with().contains("id_ed25519"),
        "{}",
        s.authenticated_with()
    );
    let out = s
        .exec(&["echo", "hi"], Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"hi\n");
    assert_eq!(out.status, Some(0));
    // Exit status and stderr come through.
    let out = s
        .exec(
            &["sh", "-c", "echo oops >&2; exit 7"],
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(out.status, Some(7));
    assert_eq!(out.stderr, b"oops\n");
    assert!(s.is_alive());
    s.close().await;
}

#[tokio::test]
async fn one_session_carries_many_channels_concurrently() {
    let h = Harness::new();
    let s = connect(&h.pi_host(), &no_resolver()).await.unwrap();
    let runs = (0..6).map(|i| {
        let s = &s;
        async move {
            let n = i.to_string();
            s.exec(&["echo", &n], Duration::from_secs(60)).await
        }
    });
    let outs = futures_join_all(runs).await;
    for (i, o) in outs.into_iter().enumerate() {
        assert_eq!(o.unwrap().stdout, format!("{i}\n").into_bytes());
    }
    // One authenticated connection only.
    let log = h.pi.log_text();
    assert_eq!(
        log.matches("Accepted publickey for root").count(),
        1,
        "{log}"
    );
}

/// Tiny join_all without an extra dependency.
async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = fs.map(Box::pin).collect();
    let mut out = Vec::new();
    // Drive all concurrently with tokio::join! over a select loop.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    for r in results {
        out.push(r.unwrap());
    }
    out
}

#[tokio::test]
async fn twenty_concurrent_sessions_to_one_sshd() {
    let h = Harness::new();
    let host = h.pi_host();
    let resolver = no_resolver();
    let runs = (0..20).map(|i| {
        let (host, resolver) = (&host, &resolver);
        async move {
            let s = connect(host, resolver).await?;
            let n = i.to_string();
            let out = s.exec(&["echo", &n], Duration::from_secs(60)).await?;
            s.close().await;
            Ok::<_, SshError>(out.stdout)
        }
    });
    for (i, r) in futures_join_all(runs).await.into_iter().enumerate() {
        assert_eq!(r.unwrap(), format!("{i}\n").into_bytes());
    }
}

#[tokio::test]
async fn agent_auth_with_a_real_ssh_agent() {
    let h = Harness::new();
    let agent = Agent::start(h.root.path());
    agent.add(&h.user_key);
    let mut host = h.pi_host();
    host.identity_agent = Some(agent.sock.display().to_string());
    host.identity_files = vec![h.root.path().join("no-such-key")];
    host.identities_only = false;
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert!(
        s.authenticated_with().starts_with("agent key"),
        "{}",
        s.authenticated_with()
    );
    let out = s
        .exec(&["echo", "agent"], Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"agent\n");

    // IdentitiesOnly: the agent's key is not among the listed files, so it
    // must not be offered; nothing else is available -> failure.
    let other = h.root.path().join("other_key");
    sshd::keygen(&other, "ed25519", "");
    host.identity_files = vec![other.clone()];
    host.identities_only = true;
    let err = connect(&host, &no_resolver()).await.unwrap_err();
    assert!(
        matches!(
            err,
            SshError::Auth {
                source: AuthError::Rejected { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("agent key"), "{err}");
}

#[tokio::test]
async fn rsa_with_sha2_and_ecdsa_key_files() {
    let h = Harness::new();
    // The harness sshd accepts only rsa-sha2-256/512 for RSA (never SHA-1
    // `ssh-rsa`), so an accepted RSA key proves a SHA-2 signature.
    let cfg = std::fs::read_to_string(h.pi.dir.join("sshd_config")).unwrap();
    assert!(cfg.contains("rsa-sha2-512,rsa-sha2-256\n") && !cfg.contains("ssh-rsa"));
    for (kind, logged) in [("rsa", "RSA SHA256:"), ("ecdsa", "ECDSA SHA256:")] {
        let key = h.root.path().join(format!("id_{kind}_test"));
        sshd::keygen(&key, kind, "");
        let mut ak = std::fs::read_to_string(&h.authorized_keys).unwrap();
        ak.push_str(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
        std::fs::write(&h.authorized_keys, ak).unwrap();
        let mut host = h.pi_host();
        host.identity_files = vec![key];
        let s = connect(&host, &no_resolver()).await.unwrap();
        assert_eq!(
            s.exec(&["true"], Duration::from_secs(30))
                .await
                .unwrap()
                .status,
            Some(0)
        );
        let log = h.pi.log_text();
        assert!(
            log.contains("Accepted publickey for root") && log.contains(logged),
            "{log}"
        );
    }
}

#[tokio::test]
async fn proxy_jump_through_one_and_two_hops() {
    let h = Harness::new();
    let jump = h.jump_host();
    let resolver = move |a: &str| -> Result<ResolvedHost, SshError> {
        if a == "jump" {
            Ok(jump.clone())
        } else {
            Err(SshError::Resolve {
                alias: a.into(),
                reason: "unknown alias".into(),
            })
        }
    };
    let mut host = h.pi_host();
    host.alias = "behindjump".into();
    host.proxy_jump = vec!["jump".into()];
    let s = connect(&host, &resolver).await.unwrap();
    let out = s
        .exec(&["echo", "via"], Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"via\n");
    let jlog = h.jump.log_text();
    assert!(
        jlog.contains("direct-tcpip") && jlog.contains(&format!("port {}", h.pi.port)),
        "jump sshd did not forward to pi: {jlog}"
    );
    s.close().await;

    // Two hops: jump -> jump (as written with user and port) -> pi.
    host.proxy_jump = vec!["jump".into(), format!("root@jump:{}", h.jump.port)];
    let s = connect(&host, &resolver).await.unwrap();
    assert_eq!(
        s.exec(&["echo", "twice"], Duration::from_secs(30))
            .await
            .unwrap()
            .stdout,
        b"twice\n"
    );

    // A hop that cannot be resolved is named in the error.
    host.proxy_jump = vec!["nowhere".into()];
    let err = connect(&host, &resolver).await.unwrap_err();
    assert!(err.to_string().contains("via jump host 'nowhere'"), "{err}");
}

#[tokio::test]
async fn proxy_command_over_child_stdio() {
    let h = Harness::new();
    let mut host = h.pi_host();
    host.hostname = "127.0.0.1".into();
    host.proxy_command = Some("bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'".into());
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(
        s.exec(&["echo", "proxied"], Duration::from_secs(30))
            .await
            .unwrap()
            .stdout,
        b"proxied\n"
    );
}

#[tokio::test]
async fn peer_that_never_speaks_fails_within_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        // Bounded: accept a few connections and hold them silently.
        for _ in 0..4 {
            if let Ok((c, _)) = listener.accept() {
                held.push(c);
            }
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let h = Harness::new();
    let mut host = h.pi_host();
    host.port = port;
    host.connect_timeout = Some(Duration::from_secs(2));
    let t0 = Instant::now();
    let err = connect(&host, &no_resolver()).await.unwrap_err();
    let took = t0.elapsed();
    assert!(matches!(err, SshError::Timeout { .. }), "{err}");
    assert!(took >= Duration::from_millis(1900), "too early: {took:?}");
    assert!(took < Duration::from_secs(2 + 5), "too late: {took:?}");
    assert!(err.to_string().contains("ConnectTimeout 2s"), "{err}");
}

#[tokio::test]
async fn killed_sshd_is_detected_dead() {
    let mut h = Harness::new();
    let mut host = h.pi_host();
    host.server_alive_interval = Duration::from_secs(1);
    host.server_alive_count_max = 3;
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(
        s.exec(&["true"], Duration::from_secs(30))
            .await
            .unwrap()
            .status,
        Some(0)
    );
    let children = agent_runner::sys::proc::descendants(h.pi.pid());
    assert!(!children.is_empty(), "no per-connection sshd child found");
    let t0 = Instant::now();
    h.pi.kill_all();
    while s.is_alive() {
        assert!(
            t0.elapsed() < Duration::from_secs(3 + 5),
            "session still alive {:?} after sshd was killed",
            t0.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = s.exec(&["true"], Duration::from_secs(5)).await.unwrap_err();
    assert!(matches!(err, SshError::Closed { .. }), "{err}");
}

#[tokio::test]
async fn frozen_peer_is_detected_by_keepalive() {
    // SIGSTOP keeps the TCP connection open but silent: only keepalive can tell.
    let h = Harness::new();
    let mut host = h.pi_host();
    host.server_alive_interval = Duration::from_secs(1);
    host.server_alive_count_max = 2;
    let s = connect(&host, &no_resolver()).await.unwrap();
    assert_eq!(
        s.exec(&["true"], Duration::from_secs(30))
            .await
            .unwrap()
            .status,
        Some(0)
    );
    let t0 = Instant::now();
    h.pi.signal_all(nix::sys::signal::Signal::SIGSTOP);
    while s.is_alive() {
        assert!(
            t0.elapsed() < Duration::from_secs(2 + 5),
            "keepalive did not notice a frozen peer after {:?}",
            t0.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "closed too early ({:?}): not keepalive",
        t0.elapsed()
    );
    h.pi.signal_all(nix::sys::signal::Signal::SIGCONT);
}

#[tokio::test]
async fn passphrase_key_without_agent_is_a_clear_error() {
    let h = Harness::new();
    let locked = h.root.path().join("locked_key");
    sshd::keygen(&locked, "ed25519", "secret-pass");
    let mut host = h.pi_host();
    host.identity_files = vec![locked.clone()];
    let err = connect(&host, &no_resolver()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            SshError::Auth {
                source: AuthError::PassphraseNoAgent { .. },
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("ssh-add {}", locked.display())),
        "{msg}"
    );
    assert!(msg.contains("passphrase"), "{msg}");
}

#[tokio::test]
async fn hostile_arguments_round_trip_through_the_remote_shell() {
    let h = Harness::new();
    let s = connect(&h.pi_host(), &no_resolver()).await.unwrap();
    let hostile = [
        "'; rm -rf /",
        "a b  c",
        "\"dq\" 'sq'",
        "$(echo pwned) `echo pwned` $HOME",
        "",
        "*",
        "semi;colon&amp|pipe>redir",
        "-n",
    ];
    let mut argv = vec![
        "sh",
        "-c",
        "for a in \"$@\"; do printf '<%s>\\n' \"$a\"; done",
        "sh",
    ];
    argv.extend(hostile.iter());
    let out = s.exec(&argv, Duration::from_secs(30)).await.unwrap();
    let want: String = hostile.iter().map(|a| format!("<{a}>\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    // And directly as argv of a program, no inner sh -c.
    let mut argv = vec!["printf", "[%s]"];
    argv.extend(hostile.iter());
    let out = s.exec(&argv, Duration::from_secs(30)).await.unwrap();
    let want: String = hostile.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}

#[tokio::test]
async fn every_remote_command_has_a_deadline() {
    let h = Harness::new();
    let s = connect(&h.pi_host(), &no_resolver()).await.unwrap();
    let t0 = Instant::now();
    let err = s
        .exec(&["sleep", "60"], Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Deadline { .. }), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(1 + 5),
        "{:?}",
        t0.elapsed()
    );
    // The session survives an abandoned command.
    assert_eq!(
        s.exec(&["echo", "still"], Duration::from_secs(30))
            .await
            .unwrap()
            .stdout,
        b"still\n"
    );
}

#[tokio::test]
async fn exec_stream_delivers_output_as_it_comes() {
    let h = Harness::new();
    let s = connect(&h.pi_host(), &no_resolver()).await.unwrap();
    let mut st = s
        .open_exec_stream(
            &["sh", "-c", "echo one; sleep 0.3; echo two >&2; exit 3"],
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let mut events = Vec::new();
    let t0 = Instant::now();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(30), st.next())
        .await
        .unwrap()
    {
        events.push(e);
        assert!(t0.elapsed() < Duration::from_secs(30));
    }
    use agent_runner::ssh::session::StreamEvent;
    assert!(
        events.contains(&StreamEvent::Stdout(b"one\n".to_vec())),
        "{events:?}"
    );
    assert!(
        events.contains(&StreamEvent::Stderr(b"two\n".to_vec())),
        "{events:?}"
    );
    assert!(events.contains(&StreamEvent::Exit(3)), "{events:?}");
}

#[tokio::test]
async fn alias_starting_with_dash_is_refused() {
    let h = Harness::new();
    let mut host = h.pi_host();
    host.alias = "-oProxyCommand=evil".into();
    let err = connect(&host, &no_resolver()).await.unwrap_err();
    assert!(matches!(err, SshError::BadAlias(_)), "{err}");
}

#[tokio::test]
async fn exec_output_is_capped_with_a_clear_error() {
    let h = Harness::new();
    let s = connect(&h.pi_host(), &no_resolver()).await.unwrap();
    for (script, stream) in [
        ("head -c 3000000 /dev/zero", "stdout"),
        ("head -c 3000000 /dev/zero >&2", "stderr"),
    ] {
        let err = s
            .exec(&["sh", "-c", script], Duration::from_secs(60))
            .await
            .map(|o| (o.stdout.len(), o.stderr.len()))
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SshError::OutputTooLarge { .. }), "{msg}");
        assert!(msg.contains("'pi'") && msg.contains(script), "{msg}");
        assert!(msg.contains(stream) && msg.contains("1 MiB"), "{msg}");
    }
    // Output just under the cap still arrives whole, on the same session.
    let out = s
        .exec(
            &["sh", "-c", "head -c 1000000 /dev/zero"],
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 1_000_000);
}
