//! Where the user's directories are: the one place that reads `$HOME`, the
//! passwd database and `$XDG_CONFIG_HOME` (through the `directories` crate).
//! `ssh` (`~` in ssh_config, known_hosts and identity files), `config` (`~` in
//! paths) and `service` (the systemd user unit directory) all ask here.
//!
//! The home is `$HOME` when it is set and not empty, else the passwd entry of
//! the current user. OpenSSH itself takes the passwd entry for `~`; we take
//! `$HOME` first (docs/ssh.md), so tests and users can point it elsewhere.

use std::path::PathBuf;

/// The current user's home: `$HOME`, else the passwd entry.
pub fn home() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf())
}

/// The home of the user named `name`, from the passwd database (`~name`).
pub fn home_of(name: &str) -> Option<PathBuf> {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|u| u.dir)
}

/// The XDG config directory: `$XDG_CONFIG_HOME` when it is an absolute
/// path, else `~/.config`.
pub fn config_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.config_dir().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_passwd_home() {
        assert_eq!(home_of("root"), Some(PathBuf::from("/root")));
        assert_eq!(home_of("no-such-user-xyz"), None);
    }

    /// `$HOME` and `$XDG_CONFIG_HOME` are read from the environment, which
    /// only a child process may change safely: the test re-runs itself.
    #[test]
    fn home_and_config_dir_follow_the_environment() {
        const CHILD: &str = "AGENT_RUNNER_DIRS_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let want_config = std::env::var("WANT_CONFIG").unwrap_or_default();
            assert_eq!(home(), Some(PathBuf::from("/tmp/h")));
            assert_eq!(config_dir(), Some(PathBuf::from(want_config)));
            return;
        }
        let me = std::env::current_exe().unwrap();
        for (xdg, want) in [
            (None, "/tmp/h/.config"),
            (Some("/tmp/x"), "/tmp/x"),
            (Some("relative"), "/tmp/h/.config"),
            (Some(""), "/tmp/h/.config"),
        ] {
            let mut c = std::process::Command::new(&me);
            c.args([
                "--exact",
                "sys::dirs::tests::home_and_config_dir_follow_the_environment",
            ])
            .env(CHILD, "1")
            .env("HOME", "/tmp/h")
            .env("WANT_CONFIG", want);
            match xdg {
                Some(x) => c.env("XDG_CONFIG_HOME", x),
                None => c.env_remove("XDG_CONFIG_HOME"),
            };
            let out = c.output().unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && said.contains("1 passed"),
                "XDG_CONFIG_HOME={xdg:?}: {said}"
            );
        }
        // An empty $HOME falls back to the passwd entry.
        let out = std::process::Command::new(&me)
            .args([
                "--exact",
                "sys::dirs::tests::empty_home_is_the_passwd_entry",
            ])
            .env(CHILD, "1")
            .env("HOME", "")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.contains("1 passed"), "{said}");
    }

    #[test]
    fn empty_home_is_the_passwd_entry() {
        if std::env::var_os("AGENT_RUNNER_DIRS_TEST_CHILD").is_none() {
            return;
        }
        let pw = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap();
        assert_eq!(home(), Some(pw.dir));
    }
}
