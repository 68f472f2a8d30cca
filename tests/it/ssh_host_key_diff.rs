//! Differential test of host-key trust: for each case, one ssh_config text
//! (known_hosts files, `StrictHostKeyChecking`, `RevokedHostKeys`) is given
//! both to the real OpenSSH client (`ssh -F CFG ALIAS true`, BatchMode) and
//! to our resolver and session, against the same test sshd; the two
//! accept/refuse decisions (and whether a key was learned) must agree.
//!
//! Where we are deliberately stricter than OpenSSH (we refuse, it accepts),
//! the case says so and why (docs/ssh.md lists the same differences); a
//! case where we accept and OpenSSH refuses always fails.
//!
//! HOME is a temp dir and every file is explicit (`-F`, `UserKnownHostsFile`,
//! `GlobalKnownHostsFile`, `IdentityFile`), so neither side reads `~/.ssh`.

use crate::support::sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use agent_runner::ssh::config::{self, ResolveOptions};
use agent_runner::ssh::session::connect;
use sshd::{no_resolver, Harness, Sshd};

/// Which test sshd a case connects to.
#[derive(Clone, Copy)]
enum Server {
    /// Offers ssh-ed25519 and ecdsa-sha2-nistp256.
    Both,
    /// Holds an ed25519 key too, but offers only ecdsa-sha2-nistp256.
    EcdsaOnly,
}

/// known_hosts contents for a case (`None`: `UserKnownHostsFile none`).
type KnownHosts = Option<Vec<u8>>;

struct Case {
    name: &'static str,
    server: Server,
    /// The alias given to ssh and to our resolver; `target` has
    /// `HostName 127.0.0.1`, any other alias is its own (lowercased) name.
    alias: &'static str,
    policy: &'static str,
    known_hosts: KnownHosts,
    /// Lines put first in the Host block (they win over the defaults).
    extra: String,
    /// Why we refuse where OpenSSH accepts, if we do.
    stricter: Option<&'static str>,
}

/// Keys and files the cases are built from.
struct Ctx {
    h: Harness,
    ec: Sshd,
    /// A key no server holds.
    other_ed: String,
}

fn pubkey_line(path: &Path) -> String {
    let t = std::fs::read_to_string(path).unwrap();
    t.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

impl Ctx {
    fn port(&self, s: Server) -> u16 {
        match s {
            Server::Both => self.h.pi.port,
            Server::EcdsaOnly => self.ec.port,
        }
    }

    fn dir(&self) -> &Path {
        self.h.root.path()
    }

    /// A file under the harness root.
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// `ssh-keygen -H` of `text` (OpenSSH's own hashing).
    fn hashed(&self, text: &str) -> Vec<u8> {
        let p = self.file("to_hash", text.as_bytes());
        let st = Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&p)
            .output()
            .unwrap();
        assert!(st.status.success(), "ssh-keygen -H failed");
        std::fs::read(&p).unwrap()
    }

    /// A KRL (`ssh-keygen -k`) revoking the key in `pubfile`.
    fn krl(&self, name: &str, pubfile: &Path) -> PathBuf {
        let p = self.dir().join(name);
        let st = Command::new("ssh-keygen")
            .arg("-k")
            .arg("-f")
            .arg(&p)
            .arg(pubfile)
            .output()
            .unwrap();
        assert!(st.status.success(), "ssh-keygen -k failed");
        p
    }

    /// The ssh_config text for `c`, reading known_hosts from `kh`.
    fn config(&self, c: &Case, kh: Option<&Path>) -> String {
        let hostname = if c.alias == "target" {
            "  HostName 127.0.0.1\n"
        } else {
            ""
        };
        let kh = kh.map_or("none".to_string(), |p| p.display().to_string());
        format!(
            "Host {alias}\n{extra}{hostname}  Port {port}\n  User root\n  IdentityFile {key}\n  \
             IdentitiesOnly yes\n  IdentityAgent none\n  BatchMode yes\n  UpdateHostKeys no\n  \
             CheckHostIP no\n  ConnectTimeout 20\n  StrictHostKeyChecking {policy}\n  \
             UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n",
            alias = c.alias,
            extra = c.extra,
            port = self.port(c.server),
            key = self.h.user_key.display(),
            policy = c.policy,
        )
    }
}

/// What one client decided.
#[derive(Debug, PartialEq)]
struct Decision {
    accepted: bool,
    /// The known_hosts file was written (a key learned).
    learned: bool,
}

/// Set up `c`'s known_hosts and config under `dir` for one client.
fn prepare(ctx: &Ctx, c: &Case, dir: &Path) -> (PathBuf, Option<PathBuf>) {
    std::fs::create_dir_all(dir).unwrap();
    let kh = c.known_hosts.as_ref().map(|bytes| {
        let p = dir.join("known_hosts");
        std::fs::write(&p, bytes).unwrap();
        p
    });
    let cfg = dir.join("ssh_config");
    std::fs::write(&cfg, ctx.config(c, kh.as_deref())).unwrap();
    (cfg, kh)
}

fn learned(c: &Case, kh: Option<&Path>) -> bool {
    match (kh, &c.known_hosts) {
        (Some(p), Some(before)) => std::fs::read(p).ok().as_ref() != Some(before),
        _ => false,
    }
}

fn openssh(ctx: &Ctx, c: &Case) -> (Decision, String) {
    let (cfg, kh) = prepare(ctx, c, &ctx.dir().join(format!("case-{}-ssh", c.name)));
    let out = Command::new("ssh")
        .env("HOME", &ctx.h.home)
        .env_remove("SSH_AUTH_SOCK")
        .arg("-F")
        .arg(&cfg)
        .arg(c.alias)
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let d = Decision {
        accepted: out.status.success(),
        learned: learned(c, kh.as_deref()),
    };
    (d, String::from_utf8_lossy(&out.stderr).trim().to_string())
}

async fn ours(ctx: &Ctx, c: &Case) -> (Decision, String) {
    let (cfg, kh) = prepare(ctx, c, &ctx.dir().join(format!("case-{}-ours", c.name)));
    let ro = ResolveOptions {
        config_file: Some(cfg),
        home: ctx.h.home.clone(),
        local_user: "root".into(),
        system_file: ctx.dir().join("no-system-config"),
    };
    let host = match config::resolve(c.alias, &ro) {
        Ok(h) => h,
        Err(e) => {
            return (
                Decision {
                    accepted: false,
                    learned: false,
                },
                format!("resolve: {e}"),
            )
        }
    };
    let r = connect(&host, &no_resolver()).await;
    let msg = match &r {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    if let Ok(s) = r {
        s.close().await;
    }
    let d = Decision {
        accepted: msg.is_empty(),
        learned: learned(c, kh.as_deref()),
    };
    (d, msg)
}

/// A case against the server offering both key types, alias `target`.
fn case(name: &'static str, policy: &'static str, known_hosts: KnownHosts) -> Case {
    Case {
        name,
        server: Server::Both,
        alias: "target",
        policy,
        known_hosts,
        extra: String::new(),
        stricter: None,
    }
}

impl Case {
    fn on(mut self, server: Server) -> Case {
        self.server = server;
        self
    }
    fn alias(mut self, alias: &'static str) -> Case {
        self.alias = alias;
        self
    }
    fn with(mut self, directive: &str, value: impl std::fmt::Display) -> Case {
        self.extra.push_str(&format!("  {directive} {value}\n"));
        self
    }
    fn stricter(mut self, why: &'static str) -> Case {
        self.stricter = Some(why);
        self
    }
}

fn cases(ctx: &Ctx) -> Vec<Case> {
    let pi = &ctx.h.pi;
    let name = pi.kh_name();
    let local = format!("[localhost]:{}", pi.port);
    let line = |n: &str, k: &str| Some(format!("{n} {k}\n").into_bytes());
    let known = line(&name, &pi.host_pub());
    let changed = line(&name, &ctx.other_ed);
    let prefixed = |prefix: &[u8], rest: &KnownHosts| {
        Some([prefix, rest.as_deref().unwrap_or_default()].concat())
    };
    // The ecdsa-only server's ed25519 key: recorded, never offered.
    let ec_ed = line(&ctx.ec.kh_name(), &ctx.ec.host_pub());
    let latin1 = b"# caf\xe9 latin-1\n";
    let pi_pub = pi.host_key.with_extension("pub");
    let other_pub = ctx.dir().join("other_host_key.pub");
    let rev_list = ctx.file(
        "rev_list",
        format!("# revoked\n{}\n", pi.host_pub()).as_bytes(),
    );
    let rev_other = ctx.file("rev_other", format!("{}\n", ctx.other_ed).as_bytes());
    let rev_bad = ctx.file(
        "rev_bad",
        format!("not a key\n{}\n", ctx.other_ed).as_bytes(),
    );
    let rev_missing = ctx.dir().join("no-such-file");
    let krl_pi = ctx.krl("krl_pi", &pi_pub);
    let krl_other = ctx.krl("krl_other", &other_pub);
    let global = ctx.file("global_known_hosts", &known.clone().unwrap_or_default());
    let as_dir = ctx.dir().join("known_hosts_is_a_directory");
    std::fs::create_dir_all(&as_dir).unwrap();
    let revoked_line = Some(format!("@revoked * {0}\n{name} {0}\n", pi.host_pub()).into_bytes());
    let hashed = Some(ctx.hashed(&format!("{local} {}\n", pi.host_pub())));
    let hashed_changed = Some(ctx.hashed(&format!("{local} {}\n", ctx.other_ed)));
    let key_comment = Some(
        [
            format!("{name} {} caf", pi.host_pub()).as_bytes(),
            b"\xe9\n",
        ]
        .concat(),
    );
    use Server::EcdsaOnly;
    vec![
        case("known", "yes", known.clone()),
        case("unknown_yes", "yes", Some(vec![])),
        case("unknown_ask", "ask", Some(vec![])),
        case("unknown_no", "no", Some(vec![])),
        case("unknown_accept_new", "accept-new", Some(vec![])),
        case("changed_accept_new", "accept-new", changed.clone()),
        case("non_utf8_comment_known", "yes", prefixed(latin1, &known)),
        case("non_utf8_comment_changed", "accept-new", prefixed(latin1, &changed)),
        case("non_utf8_key_comment", "yes", key_comment),
        case("garbage_known", "yes", prefixed(b"garbage !!\n\x00\xff\xfe junk\n", &known)),
        case("garbage_changed", "accept-new", prefixed(b"garbage !!\n", &changed)),
        case("ed_recorded_ecdsa_offered_yes", "yes", ec_ed.clone()).on(EcdsaOnly),
        case("ed_recorded_ecdsa_offered_accept_new", "accept-new", ec_ed.clone()).on(EcdsaOnly),
        case("ed_recorded_ecdsa_offered_no", "no", ec_ed.clone())
            .on(EcdsaOnly)
            .stricter("OpenSSH goes on with a changed key under 'no' (password auth off); we refuse it under every setting"),
        case("ecdsa_recorded_both_offered", "yes", line(&name, &pi.host_pub_ecdsa())),
        case("hashed_mixed_case", "yes", hashed).alias("LocalHost"),
        case("hashed_mixed_case_changed", "accept-new", hashed_changed).alias("LocalHost"),
        case("plain_upper_case_pattern", "yes", line(&local.to_uppercase(), &pi.host_pub()))
            .alias("LocalHost"),
        case("user_file_none_accept_new", "accept-new", None),
        case("user_file_none_no", "no", None),
        case("user_file_none_global_knows", "yes", None)
            .with("GlobalKnownHostsFile", global.display()),
        case("global_file_none", "yes", known.clone()).with("GlobalKnownHostsFile", "none"),
        case("at_revoked_yes", "yes", revoked_line.clone()),
        case("at_revoked_no", "no", revoked_line)
            .stricter("OpenSSH goes on with a @revoked key under 'no' (password auth off); we refuse it under every setting"),
        case("revoked_host_keys_lists_it", "yes", known.clone())
            .with("RevokedHostKeys", rev_list.display()),
        case("revoked_host_keys_other_key", "yes", known.clone())
            .with("RevokedHostKeys", rev_other.display()),
        case("revoked_host_keys_bad_line", "yes", known.clone())
            .with("RevokedHostKeys", rev_bad.display()),
        case("revoked_host_keys_missing", "yes", known.clone())
            .with("RevokedHostKeys", rev_missing.display()),
        case("revoked_host_keys_none", "yes", known.clone()).with("RevokedHostKeys", "none"),
        case("revoked_host_keys_krl_lists_it", "yes", known.clone())
            .with("RevokedHostKeys", krl_pi.display()),
        case("revoked_host_keys_krl_other_key", "yes", known.clone())
            .with("RevokedHostKeys", krl_other.display())
            .stricter("a binary KRL is not read: RevokedHostKeys naming one refuses every host, saying to list the keys as text"),
        case("known_hosts_is_a_directory_yes", "yes", None)
            .with("UserKnownHostsFile", as_dir.display()),
        case("known_hosts_is_a_directory_no", "no", None)
            .with("UserKnownHostsFile", as_dir.display())
            .stricter("OpenSSH reads a known_hosts file it cannot read as empty; we refuse and name the file"),
        case("port_less_entry_for_other_port", "yes", line("127.0.0.1", &pi.host_pub()))
            .stricter("for a port other than 22 OpenSSH falls back to the entry without the port; we look up '[host]:port' only"),
    ]
}

#[tokio::test]
async fn host_key_decisions_match_openssh() {
    let h = Harness::new();
    let ec = Sshd::start_with(
        h.root.path(),
        "ecdsaonly",
        &h.authorized_keys,
        &h.remote_bin,
        "VERBOSE",
        "HostKeyAlgorithms ecdsa-sha2-nistp256\n",
    );
    let other = h.root.path().join("other_host_key");
    sshd::keygen(&other, "ed25519", "");
    let other_ed = pubkey_line(&other.with_extension("pub"));
    let ctx = Ctx { h, ec, other_ed };
    let mut failures = Vec::new();
    let mut table = Vec::new();
    for c in cases(&ctx) {
        let (theirs, their_msg) = openssh(&ctx, &c);
        let (mine, my_msg) = ours(&ctx, &c).await;
        let verdict = match (theirs.accepted, mine.accepted, c.stricter) {
            (true, false, Some(_)) => "stricter (expected)",
            // Whether a key was learned is compared under accept-new; under
            // `no` OpenSSH records the key and we do not (docs/ssh.md).
            (a, b, None)
                if a == b && (c.policy != "accept-new" || theirs.learned == mine.learned) =>
            {
                "same"
            }
            (false, true, _) => {
                failures.push(format!(
                    "{}: LAXER than OpenSSH: it refused ({their_msg}), we accepted",
                    c.name
                ));
                "LAXER"
            }
            (a, b, Some(why)) if a == b => {
                failures.push(format!(
                    "{}: marked stricter ({why}) but both {}",
                    c.name,
                    if a { "accept" } else { "refuse" }
                ));
                "marked stricter, agrees"
            }
            _ => {
                failures.push(format!(
                    "{}: OpenSSH {theirs:?} ({their_msg}); ours {mine:?} ({my_msg})",
                    c.name
                ));
                "differs"
            }
        };
        table.push(format!(
            "{:<40} openssh={:<7} ours={:<7} {verdict}  [{}]",
            c.name,
            if theirs.accepted { "accept" } else { "refuse" },
            if mine.accepted { "accept" } else { "refuse" },
            my_msg
        ));
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{} case(s) differ from OpenSSH:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
