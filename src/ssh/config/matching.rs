//! OpenSSH's pattern matching (`match.c`): `*` and `?` globs, comma-separated
//! pattern lists with `!` negation, and the evaluation of `Host` lines.
//! `Match` criteria are evaluated in `mod.rs`, which knows the resolution state.
//!
//! Pure functions; no I/O.

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
