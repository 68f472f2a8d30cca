//! OpenSSH's pattern matching (`match.c`): `*` and `?` globs, comma-separated
//! pattern lists with `!` negation, the evaluation of `Host` lines, and of
//! `Match` lines against the reader's state (host, original host, users, the
//! `final` pass).
//!
//! No I/O: `Match exec` is refused, never run.

use super::reader::Reader;
use super::{expand_hostname, Options, SshConfigError};
use std::path::Path;

/// `match_pattern`: glob with `*` and `?`, case-sensitive, whole string.
pub fn match_pattern(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    glob(&s, &p)
}

fn glob(s: &[char], p: &[char]) -> bool {
    // Iterative matcher with backtracking on the last '*'.
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `match_pattern_list`: 1 if a positive sub-pattern matched and no negated
/// one did, 0 if nothing matched, -1 if a negated sub-pattern matched.
/// With `dolower`, sub-patterns are lowercased first.
pub fn match_pattern_list(s: &str, list: &str, dolower: bool) -> i32 {
    let mut got_positive = 0;
    for sub in list.split(',') {
        let (neg, pat) = match sub.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, sub),
        };
        let pat = if dolower {
            pat.to_ascii_lowercase()
        } else {
            pat.to_string()
        };
        if match_pattern(s, &pat) {
            if neg {
                return -1;
            }
            got_positive = 1;
        }
    }
    got_positive
}

/// `match_hostname`: the host lowercased against a lowercased pattern list.
pub fn match_hostname(host: &str, list: &str) -> i32 {
    match_pattern_list(&host.to_ascii_lowercase(), list, true)
}

/// Whether a `Host` line's patterns select `host`: some pattern matches and
/// no negated pattern does. Patterns are case-sensitive, as in OpenSSH.
pub fn host_line_matches(host: &str, patterns: &[String]) -> bool {
    let mut active = false;
    for arg in patterns {
        let (neg, pat) = match arg.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, arg.as_str()),
        };
        if match_pattern(host, pat) {
            if neg {
                return false;
            }
            active = true;
        }
    }
    active
}

impl Reader<'_> {
    /// OpenSSH's `match_cfg_line`.
    pub(super) fn eval_match(
        &mut self,
        o: &Options,
        file: &Path,
        ln: usize,
        args: &[String],
    ) -> Result<bool, SshConfigError> {
        let ruser = o.user.clone().unwrap_or_else(|| self.ro.local_user.clone());
        let host = if self.final_pass {
            o.hostname.clone().unwrap_or_else(|| self.host.clone())
        } else if let Some(hn) = &o.hostname {
            expand_hostname(hn, &self.host)?
        } else {
            self.host.clone()
        };
        let mut result = true;
        let mut attributes = 0;
        let mut i = 0;
        while i < args.len() {
            let oattrib = &args[i];
            i += 1;
            if oattrib.starts_with('#') {
                break;
            }
            let (negate, attrib) = match oattrib.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, oattrib.as_str()),
            };
            let attrib_lc = attrib.to_ascii_lowercase();
            if attrib_lc == "all" {
                let next_is_arg = args
                    .get(i)
                    .is_some_and(|a| !a.is_empty() && !a.starts_with('#'));
                if attributes > 1 || next_is_arg {
                    return Err(self.err(
                        file,
                        ln,
                        format!("Match '{oattrib}' cannot be combined with other Match attributes"),
                    ));
                }
                if result {
                    result = !negate;
                }
                return Ok(result);
            }
            attributes += 1;
            if attrib_lc == "canonical" || attrib_lc == "final" {
                if attrib_lc == "final" && !self.final_pass {
                    self.want_final = true;
                }
                if self.final_pass == negate {
                    result = false;
                }
                continue;
            }
            let arg = match args.get(i) {
                Some(a) if !a.is_empty() && !a.starts_with('#') => a,
                _ => {
                    return Err(self.err(
                        file,
                        ln,
                        format!("missing Match criteria for '{attrib}'"),
                    ))
                }
            };
            i += 1;
            let r = match attrib_lc.as_str() {
                "host" => match_hostname(&host, arg) == 1,
                "originalhost" => match_hostname(&self.original_host, arg) == 1,
                "user" => match_pattern_list(&ruser, arg, false) == 1,
                "localuser" => match_pattern_list(&self.ro.local_user, arg, false) == 1,
                "exec" => {
                    if !result {
                        // OpenSSH skips the command when an earlier criterion failed.
                        continue;
                    }
                    return Err(self.err(file, ln, format!("'Match exec' is refused: agent-runner never runs commands from ssh_config (use Match host/user instead of exec \"{arg}\")")));
                }
                _ => {
                    return Err(self.err(
                        file,
                        ln,
                        format!("unsupported Match attribute '{attrib}'"),
                    ))
                }
            };
            if r == negate {
                result = false;
            }
        }
        if attributes == 0 {
            return Err(self.err(file, ln, "one or more attributes required for Match"));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn globs() {
        assert!(match_pattern("web1.example", "web?.example"));
        assert!(match_pattern("a.b.c", "*.c"));
        assert!(match_pattern("", "*"));
        assert!(!match_pattern("abc", "a?"));
        assert!(match_pattern("aXbXc", "a*b*c"));
        assert!(!match_pattern("Web1", "web1"));
    }

    #[test]
    fn lists() {
        assert_eq!(match_pattern_list("bob", "alice,bob", false), 1);
        assert_eq!(match_pattern_list("bob", "b*,!bob", false), -1);
        assert_eq!(match_pattern_list("carl", "alice,bob", false), 0);
        assert_eq!(match_hostname("WEB", "web"), 1);
        assert_eq!(match_hostname("web", "WEB"), 1);
    }

    #[test]
    fn host_lines() {
        assert!(host_line_matches("a", &v(&["b", "a"])));
        assert!(!host_line_matches("a", &v(&["*", "!a"])));
        assert!(!host_line_matches("a", &v(&["!a", "*"])));
        assert!(!host_line_matches("c", &v(&["!a"])));
        assert!(!host_line_matches("A", &v(&["a"])));
    }
}
