//! Paths in the config: `~` and `~user` expansion, `{project}` substitution,
//! relative paths resolved under `work_dir` the way Python's
//! `Path.resolve(strict=False)` does, and the refusal of control and
//! invisible characters (paths end up in unit files and remote commands).

use super::{Loader, R};
use std::path::{Component, Path, PathBuf};
use toml::Value;

/// Control characters and invisible format characters (bidi overrides,
/// zero-width, line/paragraph separators) that must never reach a unit file.
pub(super) fn has_bad_char(s: &str) -> bool {
    s.chars().any(|c| {
        c.is_control()
            || matches!(c,
                '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}')
    })
}

/// `~` and `~/x` use `$HOME`; `~user/x` uses that user's home. An unknown
/// user or no home leaves the text as is (like Python's `expanduser`).
pub(crate) fn expand_tilde(s: &str) -> PathBuf {
    let Some(rest) = s.strip_prefix('~') else {
        return PathBuf::from(s);
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let home = if user.is_empty() {
        crate::sys::dirs::home()
    } else {
        crate::sys::dirs::home_of(user)
    };
    match home {
        Some(h) if tail.is_empty() => h,
        Some(h) => h.join(tail),
        None => PathBuf::from(s),
    }
}

/// Like Python's `Path.resolve(strict=False)`: symlinks resolved for the
/// longest existing prefix, `.`/`..` folded lexically in the rest.
pub(crate) fn resolve_lenient(p: &Path) -> PathBuf {
    for anc in p.ancestors() {
        if let Ok(base) = anc.canonicalize() {
            let rest = p.strip_prefix(anc).unwrap_or(Path::new(""));
            let mut out = base;
            push_folded(&mut out, rest);
            return out;
        }
    }
    let mut out = PathBuf::new();
    push_folded(&mut out, p);
    out
}

/// Append the components of `p` to `out`, `.` and `..` folded lexically.
fn push_folded(out: &mut PathBuf, p: &Path) {
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
}

impl Loader {
    /// `{project}` substitution and `~` expansion; relative → under `work_dir`.
    pub(super) fn path_under(
        &self,
        raw: &str,
        key: &str,
        project: &str,
        work_dir: &Path,
    ) -> R<PathBuf> {
        if has_bad_char(raw) {
            return Err(self.err(key, "contains a control or non-printable character"));
        }
        let p = expand_tilde(&raw.replace("{project}", project));
        let p = if p.is_absolute() {
            p
        } else {
            resolve_lenient(&work_dir.join(p))
        };
        if has_bad_char(&p.to_string_lossy()) {
            return Err(self.err(key, "contains a control or non-printable character"));
        }
        Ok(p)
    }

    /// The string at `key` as a path ([`Loader::path_under`]).
    pub(super) fn path(&self, v: &Value, key: &str, project: &str, work_dir: &Path) -> R<PathBuf> {
        let raw = self.string(v, key)?;
        self.path_under(&raw, key, project, work_dir)
    }

    /// The list `raw` read at `key` as paths ([`Loader::path_under`]), each
    /// named `key[i]` in errors.
    pub(super) fn paths(
        &self,
        raw: &[String],
        key: &str,
        project: &str,
        work_dir: &Path,
    ) -> R<Vec<PathBuf>> {
        raw.iter()
            .enumerate()
            .map(|(i, r)| self.path_under(r, &format!("{key}[{i}]"), project, work_dir))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_lenient_folds_dotdot_in_missing_tail() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().canonicalize().unwrap();
        let p = resolve_lenient(&base.join("a/b/../c/./d"));
        assert_eq!(p, base.join("a/c/d"));
    }

    #[test]
    fn tilde_uses_home_argument_forms() {
        let p = expand_tilde("plain/x");
        assert_eq!(p, Path::new("plain/x"));
        let p = expand_tilde("~nosuchuser-xyz/q");
        assert_eq!(p, Path::new("~nosuchuser-xyz/q"));
    }

    #[test]
    fn bad_chars() {
        assert!(has_bad_char("a\nb"));
        assert!(has_bad_char("a\u{202e}b"));
        assert!(!has_bad_char("/home/ü/x y"));
    }
}
