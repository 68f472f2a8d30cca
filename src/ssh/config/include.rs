//! `Include` path resolution as OpenSSH does it: `~` only in user files,
//! relative paths anchored in `~/.ssh` (user files) or `/etc/ssh` (system
//! file), then a glob whose matches are read in sorted order; no match is
//! not an error.
//!
//! Reading the included files and the depth limit live in `reader.rs`.

use std::path::PathBuf;

/// Why an Include argument was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeError {
    /// `~` in the system file.
    TildeInSystemFile(String),
    /// The glob pattern itself is malformed.
    BadGlob(String),
}

impl std::fmt::Display for IncludeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IncludeError::TildeInSystemFile(p) => {
                write!(
                    f,
                    "bad include path '{p}' ('~' is only allowed in user config files)"
                )
            }
            IncludeError::BadGlob(p) => write!(f, "glob failed for '{p}'"),
        }
    }
}

/// The files one Include argument names, in the order OpenSSH reads them.
pub fn expand_include(
    arg: &str,
    user_conf: bool,
    home: &str,
    system_dir: &str,
) -> Result<Vec<PathBuf>, IncludeError> {
    if arg.starts_with('~') && !user_conf {
        return Err(IncludeError::TildeInSystemFile(arg.to_string()));
    }
    let anchored = if arg.starts_with('/') || arg.starts_with('~') {
        arg.to_string()
    } else if user_conf {
        format!("~/.ssh/{arg}")
    } else {
        format!("{system_dir}/{arg}")
    };
    // glob(3) with GLOB_TILDE: only the plain `~` / `~/` form is ours to
    // expand here; `~user` goes through the passwd database.
    let pattern = match super::tokens::tilde(&anchored, home) {
        Ok(p) => p,
        // GLOB_TILDE leaves an unknown ~user as is, which then matches nothing.
        Err(_) => return Ok(Vec::new()),
    };
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths =
        glob::glob_with(&pattern, opts).map_err(|_| IncludeError::BadGlob(pattern.clone()))?;
    let mut out: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchoring_and_sorting() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().to_str().unwrap().to_string();
        std::fs::create_dir_all(d.path().join(".ssh/conf.d")).unwrap();
        for f in ["b.conf", "a.conf", ".hidden.conf", "c.txt"] {
            std::fs::write(d.path().join(".ssh/conf.d").join(f), "").unwrap();
        }
        let got = expand_include("conf.d/*.conf", true, &home, "/etc/ssh").unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, vec!["a.conf", "b.conf"]);
        let got = expand_include("~/.ssh/conf.d/a.conf", true, &home, "/etc/ssh").unwrap();
        assert_eq!(got.len(), 1);
        assert!(expand_include("nothing/*", true, &home, "/etc/ssh")
            .unwrap()
            .is_empty());
        assert_eq!(
            expand_include("~/x", false, &home, "/etc/ssh"),
            Err(IncludeError::TildeInSystemFile("~/x".into()))
        );
    }
}
