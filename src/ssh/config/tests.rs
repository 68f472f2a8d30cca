//! Unit tests of the resolver on small configs written to temp dirs (the real
//! HOME is never read).

use super::*;
use std::time::Duration;

struct Fx {
    dir: tempfile::TempDir,
}

impl Fx {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home/.ssh")).unwrap();
        Fx { dir }
    }
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
    fn opts(&self, config_file: Option<PathBuf>) -> ResolveOptions {
        ResolveOptions {
            config_file,
            home: self.home(),
            local_user: "alice".into(),
            system_file: self.dir.path().join("etc/ssh_config"),
        }
    }
    fn f(&self, text: &str) -> ResolveOptions {
        let p = self.write("cfg", text);
        self.opts(Some(p))
    }
}

fn err(r: Result<ResolvedHost, SshConfigError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn defaults_like_ssh_g() {
    let fx = Fx::new();
    let r = resolve("box", &fx.f("")).unwrap();
    assert_eq!(r.hostname, "box");
    assert_eq!(r.port, 22);
    assert_eq!(r.user, "alice");
    assert_eq!(r.identity_files.len(), 7);
    assert_eq!(r.identity_files[0], fx.home().join(".ssh/id_rsa"));
    assert_eq!(r.strict_host_key_checking, StrictHostKeyChecking::Ask);
    assert_eq!(
        r.user_known_hosts_files,
        vec![
            fx.home().join(".ssh/known_hosts"),
            fx.home().join(".ssh/known_hosts2")
        ]
    );
    assert_eq!(r.connect_timeout, None);
    assert_eq!(r.server_alive_interval, Duration::ZERO);
    assert_eq!(r.server_alive_count_max, 3);
}

#[test]
fn first_value_wins_and_identity_files_accumulate() {
    let fx = Fx::new();
    let o = fx.f("Host web\n  Port 2200\n  IdentityFile ~/.ssh/a\nHost *\n  Port 22\n  User root\n  IdentityFile ~/.ssh/b\n  IdentityFile ~/.ssh/a\n");
    let r = resolve("web", &o).unwrap();
    assert_eq!(r.port, 2200);
    assert_eq!(r.user, "root");
    assert_eq!(
        r.identity_files,
        vec![fx.home().join(".ssh/a"), fx.home().join(".ssh/b")]
    );
}

#[test]
fn match_exec_is_refused_with_file_and_line() {
    let fx = Fx::new();
    let o = fx.f("Host a\n  Port 1\n\nMatch exec \"test -e /tmp\"\n  Port 2\n");
    let e = err(resolve("a", &o));
    assert!(e.contains("line 4"), "{e}");
    assert!(e.contains("cfg'"), "{e}");
    assert!(e.contains("Match exec"), "{e}");
    assert!(!e.contains('\n'));
    // Not evaluated (so not refused) when an earlier criterion already failed.
    let o = fx.f("Match host other exec \"false\"\n  Port 2\n");
    assert_eq!(resolve("a", &o).unwrap().port, 22);
    assert!(resolve("other", &o).is_err());
}

#[test]
fn dash_alias_refused() {
    let fx = Fx::new();
    let e = err(resolve("-oProxyCommand=x", &fx.f("")));
    assert!(e.contains("'-oProxyCommand=x'"), "{e}");
}

#[test]
fn unknown_keyword_and_ignore_unknown() {
    let fx = Fx::new();
    let e = err(resolve("a", &fx.f("Host b\n  Frobnicate yes\n")));
    assert!(e.contains("line 2") && e.contains("'frobnicate'"), "{e}");
    let o = fx.f("IgnoreUnknown Frob*,Other\nFrobnicate yes\nPort 3\n");
    assert_eq!(resolve("a", &o).unwrap().port, 3);
}

#[test]
fn malformed_values() {
    let fx = Fx::new();
    for (cfg, needle) in [
        ("Port abc\n", "bad port 'abc'"),
        ("Port 0\n", "bad port '0'"),
        ("Port 70000\n", "bad port"),
        ("Port 1 2\n", "extra arguments"),
        ("Port\n", "no argument"),
        ("ConnectTimeout 5x\n", "invalid time value"),
        ("BatchMode maybe\n", "unsupported value"),
        ("StrictHostKeyChecking sometimes\n", "unsupported value"),
        ("User \"unterminated\n", "invalid quotes"),
        ("Match host\n", "missing Match criteria"),
        ("Match nope x\n", "unsupported Match attribute"),
        ("Match all host a\n", "cannot be combined"),
        ("UserKnownHostsFile none /x\n", "must appear alone"),
        ("ServerAliveCountMax -1\n", "invalid integer"),
        ("IdentityAgent $BAD/x\n", "invalid environment name"),
        ("ProxyJump a@:22\n", "invalid ProxyJump"),
    ] {
        let e = err(resolve("a", &fx.f(cfg)));
        assert!(e.contains(needle), "{cfg:?}: {e}");
        assert!(e.contains("line 1"), "{cfg:?}: {e}");
    }
}

#[test]
fn include_depth_limit_names_the_line() {
    let fx = Fx::new();
    fx.write("home/.ssh/loop.conf", "Include loop.conf\n");
    let o = fx.f("Include loop.conf\n");
    let e = err(resolve("a", &o));
    assert!(e.contains("more than 16 deep"), "{e}");
    assert!(e.contains("loop.conf' line 1"), "{e}");
}

#[test]
fn include_relative_to_dot_ssh_and_conditional() {
    let fx = Fx::new();
    fx.write("home/.ssh/conf.d/10-web.conf", "Host web\n  Port 8022\n");
    fx.write("home/.ssh/inner.conf", "User inner\nHost *\n  User other\n");
    let o = fx.f("Host db\n  Include inner.conf\nHost *\n  Include conf.d/*.conf\n  User outer\n");
    assert_eq!(resolve("web", &o).unwrap().port, 8022);
    assert_eq!(resolve("web", &o).unwrap().user, "outer");
    assert_eq!(resolve("db", &o).unwrap().user, "inner");
}

#[test]
fn user_file_then_system_file_and_f_override() {
    let fx = Fx::new();
    fx.write("home/.ssh/config", "Host a\n  Port 1\n");
    fx.write("etc/ssh_config", "Host *\n  Port 9\n  User sys\n");
    let r = resolve("a", &fx.opts(None)).unwrap();
    assert_eq!((r.port, r.user.as_str()), (1, "sys"));
    assert_eq!(resolve("b", &fx.opts(None)).unwrap().port, 9);
    // -F: the system file is not read.
    let r = resolve("b", &fx.f("Host a\n Port 1\n")).unwrap();
    assert_eq!((r.port, r.user.as_str()), (22, "alice"));
    // A missing -F file is an error; a missing user file is not.
    let e = err(resolve("a", &fx.opts(Some(fx.dir.path().join("nope")))));
    assert!(e.contains("cannot read ssh config"), "{e}");
}

#[test]
fn user_file_permissions_checked() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fx::new();
    let p = fx.write("home/.ssh/config", "Port 1\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = err(resolve("a", &fx.opts(None)));
    assert!(e.contains("bad owner or permissions"), "{e}");
}

#[test]
fn final_pass_matches_the_resolved_host() {
    let fx = Fx::new();
    let o = fx.f("Host short\n  HostName Long.Example\nMatch final host long.example\n  Port 7\nHost long.example\n  User l\n");
    let r = resolve("short", &o).unwrap();
    assert_eq!(r.hostname, "long.example");
    assert_eq!((r.port, r.user.as_str()), (7, "l"));
    // Without `Match final` there is no second pass.
    let o = fx.f("Host short\n  HostName long.example\nHost long.example\n  User l\n");
    assert_eq!(resolve("short", &o).unwrap().user, "alice");
}

#[test]
fn tokens_in_paths() {
    let fx = Fx::new();
    let o = fx.f("Host h\n  HostName %h.example\n  User bob\n  Port 2022\n  IdentityFile ~/.ssh/%r@%h-%p\n  UserKnownHostsFile ~/kh/%n %d/x\n  IdentityAgent ~/agent.%u\n");
    let r = resolve("h", &o).unwrap();
    let home = fx.home();
    assert_eq!(r.identity_files, vec![home.join(".ssh/bob@h.example-2022")]);
    assert_eq!(
        r.user_known_hosts_files,
        vec![
            home.join("kh/h"),
            PathBuf::from(format!("{}/x", home.display()))
        ]
    );
    assert_eq!(
        r.identity_agent,
        Some(format!("{}/agent.alice", home.display()))
    );
    let e = err(resolve("h", &fx.f("HostName x%z\n")));
    assert!(e.contains("unknown token '%z'"), "{e}");
}

#[test]
fn proxy_jump_and_command() {
    let fx = Fx::new();
    let o = fx.f("Host a\n  ProxyJump u@j1:2222,j2\n  ProxyCommand nc %h %p\nHost b\n  ProxyCommand nc %h %p\n  ProxyJump j\nHost c\n  ProxyJump none\n");
    let r = resolve("a", &o).unwrap();
    assert_eq!(r.proxy_jump, vec!["u@j1:2222", "j2"]);
    assert_eq!(r.proxy_command, None);
    let r = resolve("b", &o).unwrap();
    assert!(r.proxy_jump.is_empty());
    assert_eq!(r.proxy_command.as_deref(), Some("nc %h %p"));
    let r = resolve("c", &o).unwrap();
    assert!(r.proxy_jump.is_empty() && r.proxy_command.is_none());
}

#[test]
fn dump_spellings() {
    let fx = Fx::new();
    let o = fx.f("Host a\n  StrictHostKeyChecking off\n  ConnectTimeout 1m30s\n  BatchMode yes\n  ProxyJump 10.0.0.1:22\n");
    let d = resolve_full("a", &o).unwrap().dump().unwrap();
    let get = |k: &str| d.iter().find(|(kk, _)| *kk == k).map(|(_, v)| v.clone());
    assert_eq!(get("stricthostkeychecking").as_deref(), Some("false"));
    assert_eq!(get("connecttimeout").as_deref(), Some("90"));
    assert_eq!(get("serveraliveinterval").as_deref(), Some("300"));
    assert_eq!(get("proxyjump").as_deref(), Some("[10.0.0.1]:22"));
    assert_eq!(get("identityfile").as_deref(), Some("~/.ssh/id_rsa"));
}

#[test]
fn convtime_forms() {
    assert_eq!(convtime("90"), Some(90));
    assert_eq!(convtime("1m30s"), Some(90));
    assert_eq!(convtime("1H"), Some(3600));
    assert_eq!(convtime("1w"), Some(604800));
    assert_eq!(convtime("x"), None);
    assert_eq!(convtime("5y"), None);
    assert_eq!(convtime(""), None);
}

#[test]
fn proxy_command_tokens() {
    let fx = Fx::new();
    let o = fx.f("Host p\n  HostName P.example\n  User u\n  Port 2022\n  ProxyCommand nc -x proxy %h %p # %r %n %k %%\nHost bad\n  ProxyCommand nc %z\n");
    let r = resolve("p", &o).unwrap();
    assert_eq!(
        proxy_command_line(&r).unwrap().as_deref(),
        Some("nc -x proxy p.example 2022 # u p p %")
    );
    let r = resolve("bad", &o).unwrap();
    assert!(proxy_command_line(&r).is_err());
    let r = resolve("none", &o).unwrap();
    assert_eq!(proxy_command_line(&r).unwrap(), None);
}

#[test]
fn known_hosts_none_reads_no_file() {
    let fx = Fx::new();
    let o = fx.f("UserKnownHostsFile none\nGlobalKnownHostsFile none\n");
    let r = resolve("box", &o).unwrap();
    let (user, global) = crate::ssh::known_hosts::files_for(&r);
    assert!(user.is_empty(), "UserKnownHostsFile none read {user:?}");
    assert!(
        global.is_empty(),
        "GlobalKnownHostsFile none read {global:?}"
    );
}

#[test]
fn shell_metacharacters_in_names_are_refused() {
    let fx = Fx::new();
    for alias in [
        "pi$(id>x)",
        "pi`id`",
        "a;b",
        "a|b",
        "a&b",
        "a>b",
        "a'b",
        "a\"b",
        "a\\b",
        "a b",
        "a\tb",
        "a\u{1b}b",
        "pi%h",
    ] {
        let e = err(resolve(alias, &fx.f("")));
        assert!(
            e.contains("not allowed") && e.contains("host alias"),
            "{alias:?}: {e}"
        );
    }
    let e = err(resolve("x", &fx.f("Host x\n  HostName a$(id)b\n")));
    assert!(
        e.contains("line 2") && e.contains("HostName") && e.contains("a$(id)b"),
        "{e}"
    );
    let e = err(resolve("x", &fx.f("Host x\n  HostName %h;id\n")));
    assert!(e.contains("line 2") && e.contains("x;id"), "{e}");
    let e = err(resolve("x", &fx.f("Host x\n  User \"a;id\"\n")));
    assert!(
        e.contains("line 2") && e.contains("User") && e.contains("a;id"),
        "{e}"
    );
    // What stays allowed: names, IPv6 literals, users with '@'.
    let r = resolve("pi-1.lan_x", &fx.f("")).unwrap();
    assert_eq!(r.hostname, "pi-1.lan_x");
    let r = resolve(
        "x",
        &fx.f("Host x\n  HostName fe80::1\n  User alice@corp.example\n"),
    )
    .unwrap();
    assert_eq!(
        (r.hostname.as_str(), r.user.as_str()),
        ("fe80::1", "alice@corp.example")
    );
}

#[test]
fn proxy_command_tokens_are_single_quoted() {
    // Validation refuses such names at resolution; the quoting is the
    // second wall, shown here on a host built past the resolver.
    let fx = Fx::new();
    let o = fx.f("Host p\n  ProxyCommand printf '<%%s>\\n' %h %n %r %k %p\n");
    let mut r = resolve("p", &o).unwrap();
    let flag = fx.dir.path().join("pwned");
    let f = flag.display();
    r.hostname = format!("h$(touch {f})");
    r.alias = format!("n`touch {f}`");
    r.user = format!("u;touch {f}");
    r.host_key_alias = Some(format!("k'\"$(touch {f})\"'"));
    let line = proxy_command_line(&r).unwrap().unwrap();
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("exec {line}"))
        .output()
        .unwrap();
    assert!(
        !flag.exists(),
        "the ProxyCommand ran an injected command: {line}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("<h$(touch {f})>\n<n`touch {f}`>\n<u;touch {f}>\n<k'\"$(touch {f})\"'>\n<22>\n")
    );
}
