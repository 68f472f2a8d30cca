//! Reading config files: the user file (or the `-F`-style override) then the
//! system file, one line at a time, with the block structure OpenSSH gives
//! them: `Host` and `Match` switch the following lines on or off, `Include`
//! reads other files in place (nested at most [`MAX_INCLUDE_DEPTH`] deep).
//! Every other directive goes to `directives.rs`.

use super::directives::{self, Directive};
use super::{
    include, matching, parser, Options, ResolveOptions, SshConfigError, MAX_INCLUDE_DEPTH,
};
use std::io::Read;
use std::path::Path;

/// The state of one resolution's reading: who we are matching, and the
/// `final` second pass.
pub(super) struct Reader<'a> {
    pub(super) ro: &'a ResolveOptions,
    pub(super) home: String,
    /// What `Host` lines match: the alias, then the final host name.
    pub(super) host: String,
    pub(super) original_host: String,
    pub(super) final_pass: bool,
    pub(super) want_final: bool,
}

impl Reader<'_> {
    pub(super) fn err(&self, file: &Path, line: usize, msg: impl Into<String>) -> SshConfigError {
        SshConfigError::Line {
            file: file.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }

    pub(super) fn read_all(&mut self, o: &mut Options) -> Result<(), SshConfigError> {
        let mut active = true;
        match &self.ro.config_file {
            Some(p) if p.as_os_str() == "none" => {}
            Some(p) => {
                let p = p.clone();
                if !self.read_file(o, &p, true, false, false, &mut active, 0)? {
                    return Err(SshConfigError::Read {
                        path: p,
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    });
                }
            }
            None => {
                let user_file = self.ro.home.join(".ssh").join("config");
                self.read_file(o, &user_file, true, true, false, &mut active, 0)?;
                let mut active = true;
                let sys = self.ro.system_file.clone();
                self.read_file(o, &sys, false, false, false, &mut active, 0)?;
            }
        }
        Ok(())
    }

    /// Read one file; Ok(false) when it does not exist.
    #[allow(clippy::too_many_arguments)]
    fn read_file(
        &mut self,
        o: &mut Options,
        path: &Path,
        user_conf: bool,
        check_perm: bool,
        never_match: bool,
        active: &mut bool,
        depth: usize,
    ) -> Result<bool, SshConfigError> {
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(SshConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let meta = f.metadata().map_err(|source| SshConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.is_dir() {
            return Ok(true);
        }
        if check_perm {
            use std::os::unix::fs::MetadataExt;
            let uid = nix::unistd::getuid().as_raw();
            if (meta.uid() != 0 && meta.uid() != uid) || meta.mode() & 0o022 != 0 {
                return Err(SshConfigError::Permissions(path.to_path_buf()));
            }
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|source| SshConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let text = String::from_utf8_lossy(&bytes);
        for (i, raw) in text.split('\n').enumerate() {
            self.line(o, path, i + 1, raw, user_conf, never_match, active, depth)?;
        }
        Ok(true)
    }

    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        o: &mut Options,
        file: &Path,
        ln: usize,
        raw: &str,
        user_conf: bool,
        never_match: bool,
        active: &mut bool,
        depth: usize,
    ) -> Result<(), SshConfigError> {
        let l = match parser::split_line(raw) {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(()),
            Err(e) => return Err(self.err(file, ln, e.to_string())),
        };
        let d = Directive {
            file,
            ln,
            kw: l.keyword.as_str(),
            args: &l.args,
            rest: &l.rest,
            on: *active,
            user_conf,
        };
        match d.kw {
            "host" => {
                if d.args.iter().any(String::is_empty) {
                    return Err(d.err("keyword 'host' has an empty argument"));
                }
                *active = !never_match && matching::host_line_matches(&self.host, d.args);
            }
            "match" => {
                let crit = parser::strdelim_tokens(d.rest);
                let r = self.eval_match(o, file, ln, &crit)?;
                *active = !never_match && r;
            }
            "include" => self.include(o, &d, never_match, active, depth)?,
            _ => directives::apply(o, &d)?,
        }
        Ok(())
    }

    /// `Include`: read each file its arguments name, in place. The included
    /// lines are active only where the `Include` line was; the block state
    /// is restored after each file.
    fn include(
        &mut self,
        o: &mut Options,
        d: &Directive,
        never_match: bool,
        active: &mut bool,
        depth: usize,
    ) -> Result<(), SshConfigError> {
        let oactive = *active;
        for arg in d.args {
            if arg.is_empty() {
                return Err(d.err("keyword 'include' has an empty argument"));
            }
            let sys_dir = self
                .ro
                .system_file
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/etc/ssh".to_string());
            let files = include::expand_include(arg, d.user_conf, &self.home, &sys_dir)
                .map_err(|e| d.err(e.to_string()))?;
            for f in files {
                if depth + 1 > MAX_INCLUDE_DEPTH {
                    return Err(d.err(format!("Include of '{}' nests more than {MAX_INCLUDE_DEPTH} deep (is there an include cycle?)", f.display())));
                }
                self.read_file(
                    o,
                    &f,
                    d.user_conf,
                    true,
                    never_match || !oactive,
                    active,
                    depth + 1,
                )?;
                *active = oactive;
            }
        }
        Ok(())
    }
}
