//! Test harness: real OpenSSH `sshd` instances on 127.0.0.1 with generated
//! host and user keys, their own sshd_config, an ssh client config with
//! aliases, and a known_hosts file, all in one temp dir. The client HOME is a
//! temp dir too; the real `~/.ssh` is never read or written. Every sshd (and
//! its per-connection children) is killed on Drop.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_runner::ssh::session::SshError;
use agent_runner::ssh::{ResolvedHost, StrictHostKeyChecking};

pub const SSHD: &str = "/usr/sbin/sshd";

fn require_tools() {
    assert!(
        Path::new(SSHD).exists(),
        "'{SSHD}' is missing: these tests need a real OpenSSH server; apt-get install openssh-server"
    );
    for t in ["ssh-keygen", "ssh-agent", "ssh-add"] {
        let ok = Command::new(t)
            .arg("-?")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(ok, "'{t}' is missing: apt-get install openssh-client");
    }
}

/// Generate a key pair at `path` (no passphrase unless given).
pub fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let _ = std::fs::remove_file(path);
    let mut c = Command::new("ssh-keygen");
    c.args([
        "-q",
        "-t",
        kind,
        "-N",
        passphrase,
        "-C",
        "agent-runner-test",
        "-f",
    ])
    .arg(path);
    if kind == "rsa" {
        c.args(["-b", "2048"]);
    }
    let st = c.status().expect("run ssh-keygen");
    assert!(st.success(), "ssh-keygen failed for {}", path.display());
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// One running sshd.
pub struct Sshd {
    pub name: String,
    pub dir: PathBuf,
    pub port: u16,
    pub host_key: PathBuf,
    pub log: PathBuf,
    child: Child,
}

impl Sshd {
    /// Start an sshd named `name` under `root/name`, trusting `authorized_keys`,
    /// with `PATH=path_prefix:…` for remote commands.
    ///
    /// `log_level` is sshd's `LogLevel`; at `DEBUG1` and above sshd also writes
    /// debug lines into the stderr of remote commands, so keep it at
    /// `VERBOSE` where command output is checked.
    pub fn start(
        root: &Path,
        name: &str,
        authorized_keys: &Path,
        path_prefix: &Path,
        log_level: &str,
    ) -> Sshd {
        Sshd::start_with(root, name, authorized_keys, path_prefix, log_level, "")
    }

    /// [`Sshd::start`] with `extra` lines appended to its sshd_config (for
    /// example `HostKeyAlgorithms ecdsa-sha2-nistp256` to offer one key type).
    pub fn start_with(
        root: &Path,
        name: &str,
        authorized_keys: &Path,
        path_prefix: &Path,
        log_level: &str,
        extra: &str,
    ) -> Sshd {
        require_tools();
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = root.join(format!("sshd-{name}"));
        std::fs::create_dir_all(&dir).expect("sshd dir");
        let host_key = dir.join("ssh_host_ed25519_key");
        keygen(&host_key, "ed25519", "");
        // A second host key, so tests can check that a host known only by
        // its ECDSA key is verified against that key.
        let ecdsa_key = dir.join("ssh_host_ecdsa_key");
        keygen(&ecdsa_key, "ecdsa", "");
        let log = dir.join("sshd.log");
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let cfg = dir.join("sshd_config");
            std::fs::write(
                &cfg,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nHostKey {hk2}\nPidFile {pid}\n\
                     AuthorizedKeysFile {ak}\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     PubkeyAuthentication yes\n\
                     PubkeyAcceptedAlgorithms ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256\nAllowTcpForwarding yes\nMaxStartups 200:30:400\n\
                     LogLevel {log_level}\n\
                     SetEnv PATH={pp}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n{extra}",
                    hk = host_key.display(),
                    hk2 = ecdsa_key.display(),
                    pid = dir.join("sshd.pid").display(),
                    ak = authorized_keys.display(),
                    pp = path_prefix.display(),
                ),
            )
            .expect("write sshd_config");
            let logf = std::fs::File::create(&log).expect("sshd log");
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(logf)
                .spawn()
                .expect("spawn sshd");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(st)) = child.try_wait() {
                    last_err = format!(
                        "sshd exited ({st}): {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    break;
                }
                if banner_ok(port) {
                    return Sshd {
                        name: name.into(),
                        dir,
                        port,
                        host_key,
                        log,
                        child,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err = "sshd did not answer within 20 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not start sshd '{name}': {last_err}");
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The public host key line (`ssh-ed25519 AAAA…`).
    pub fn host_pub(&self) -> String {
        let t = std::fs::read_to_string(self.host_key.with_extension("pub")).expect("host pub");
        let mut f = t.split_whitespace();
        format!("{} {}", f.next().unwrap(), f.next().unwrap())
    }

    /// The public ECDSA host key line.
    pub fn host_pub_ecdsa(&self) -> String {
        let t = std::fs::read_to_string(self.dir.join("ssh_host_ecdsa_key.pub")).expect("host pub");
        let mut f = t.split_whitespace();
        format!("{} {}", f.next().unwrap(), f.next().unwrap())
    }

    /// The `[127.0.0.1]:port` known_hosts name.
    pub fn kh_name(&self) -> String {
        format!("[127.0.0.1]:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send `sig` to the listener and every per-connection child.
    pub fn signal_all(&self, sig: nix::sys::signal::Signal) {
        let pid = self.pid();
        let mut pids: Vec<i32> = agent_runner::sys::proc::descendants(pid)
            .into_iter()
            .map(|s| s.pid)
            .collect();
        pids.push(pid);
        for p in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
        }
    }

    /// Kill the listener and its per-connection children (SIGKILL).
    pub fn kill_all(&mut self) {
        self.signal_all(nix::sys::signal::Signal::SIGCONT);
        self.signal_all(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// A jump-host resolver for `connect` that resolves nothing (the tests
/// hand `connect` fully resolved hosts).
pub fn no_resolver() -> impl Fn(&str) -> Result<ResolvedHost, SshError> + Send + Sync {
    |a: &str| {
        Err(SshError::Resolve {
            alias: a.into(),
            reason: "no resolver in this test".into(),
        })
    }
}

fn banner_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && &buf[..4] == b"SSH-"
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Two sshds (`pi` and `jump`), a user key, a client HOME with
/// `.ssh/config` (aliases `pi`, `jump`, `behindjump`), and `.ssh/known_hosts`
/// trusting both host keys.
pub struct Harness {
    pub root: tempfile::TempDir,
    pub home: PathBuf,
    pub ssh_dir: PathBuf,
    /// User private key (`HOME/.ssh/id_ed25519`), authorized on both sshds.
    pub user_key: PathBuf,
    pub authorized_keys: PathBuf,
    pub known_hosts: PathBuf,
    pub client_config: PathBuf,
    /// Prepended to the remote PATH (put fake or real binaries here).
    pub remote_bin: PathBuf,
    pub pi: Sshd,
    pub jump: Sshd,
}

impl Harness {
    pub fn new() -> Harness {
        require_tools();
        let root = tempfile::Builder::new()
            .prefix("ar-sshd-")
            .tempdir()
            .expect("tempdir");
        let home = root.path().join("home");
        let ssh_dir = home.join(".ssh");
        std::fs::create_dir_all(&ssh_dir).expect("ssh dir");
        let user_key = ssh_dir.join("id_ed25519");
        keygen(&user_key, "ed25519", "");
        let authorized_keys = root.path().join("authorized_keys");
        std::fs::copy(user_key.with_extension("pub"), &authorized_keys).expect("authorized_keys");
        let remote_bin = root.path().join("remote-bin");
        std::fs::create_dir_all(&remote_bin).expect("remote bin");
        let pi = Sshd::start(root.path(), "pi", &authorized_keys, &remote_bin, "VERBOSE");
        // DEBUG1 so tests can see its direct-tcpip forwarding in the log.
        let jump = Sshd::start(root.path(), "jump", &authorized_keys, &remote_bin, "DEBUG1");
        let known_hosts = ssh_dir.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!(
                "{} {}\n{} {}\n",
                pi.kh_name(),
                pi.host_pub(),
                jump.kh_name(),
                jump.host_pub()
            ),
        )
        .expect("known_hosts");
        let client_config = ssh_dir.join("config");
        let common = format!(
            "  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 20\n",
            user_key.display(),
            known_hosts.display()
        );
        std::fs::write(
            &client_config,
            format!(
                "Host pi\n  HostName 127.0.0.1\n  Port {p}\n{common}\n\
                 Host jump\n  HostName 127.0.0.1\n  Port {j}\n{common}\n\
                 Host behindjump\n  HostName 127.0.0.1\n  Port {p}\n  ProxyJump jump\n{common}\n",
                p = pi.port,
                j = jump.port,
            ),
        )
        .expect("client config");
        Harness {
            root,
            home,
            ssh_dir,
            user_key,
            authorized_keys,
            known_hosts,
            client_config,
            remote_bin,
            pi,
            jump,
        }
    }

    /// A `ResolvedHost` for `sshd` as the client config describes it (built
    /// directly, independent of any resolver).
    pub fn host(&self, alias: &str, sshd: &Sshd) -> ResolvedHost {
        ResolvedHost {
            alias: alias.into(),
            hostname: "127.0.0.1".into(),
            port: sshd.port,
            user: "root".into(),
            identity_files: vec![self.user_key.clone()],
            identities_only: true,
            identity_agent: Some("none".into()),
            certificate_files: vec![],
            proxy_jump: vec![],
            proxy_command: None,
            strict_host_key_checking: StrictHostKeyChecking::Yes,
            user_known_hosts_files: vec![self.known_hosts.clone()],
            global_known_hosts_files: vec![PathBuf::from("/dev/null")],
            hash_known_hosts: false,
            host_key_alias: None,
            connect_timeout: Some(Duration::from_secs(20)),
            server_alive_interval: Duration::from_secs(15),
            server_alive_count_max: 3,
            batch_mode: true,
            revoked_host_keys: None,
        }
    }

    pub fn pi_host(&self) -> ResolvedHost {
        self.host("pi", &self.pi)
    }

    pub fn jump_host(&self) -> ResolvedHost {
        self.host("jump", &self.jump)
    }

    /// Put this build on the remote PATH as `agent-runner`, through a
    /// wrapper that can set env (the probe's clock-offset test hook).
    pub fn put_remote_binary(&self, env: &[(&str, &str)]) {
        let mut s = String::from("#!/bin/sh\n");
        for (k, v) in env {
            s.push_str(&format!("export {k}='{v}'\n"));
        }
        s.push_str(&format!("exec '{}' \"$@\"\n", super::BIN));
        let p = self.remote_bin.join("agent-runner");
        super::write_exec(&p, s);
    }

    /// `ssh -F <client config>` with the harness's HOME, for comparisons.
    pub fn openssh(&self, alias: &str) -> Command {
        let mut c = Command::new("ssh");
        c.env("HOME", &self.home)
            .env_remove("SSH_AUTH_SOCK")
            .arg("-F")
            .arg(&self.client_config)
            .arg(alias);
        c
    }
}

/// A real `ssh-agent` on a socket in `dir`, killed on Drop.
pub struct Agent {
    pub sock: PathBuf,
    child: Child,
}

impl Agent {
    pub fn start(dir: &Path) -> Agent {
        require_tools();
        let sock = dir.join("agent.sock");
        let _ = std::fs::remove_file(&sock);
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ssh-agent");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "ssh-agent socket did not appear");
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent { sock, child }
    }

    /// `ssh-add KEY` (key must have no passphrase, or give it via SSH_ASKPASS).
    pub fn add(&self, key: &Path) {
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh-add");
        assert!(
            out.status.success(),
            "ssh-add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
