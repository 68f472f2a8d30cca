//! Remote command lines built from argv: POSIX single-quote escaping, so the
//! remote login shell sees exactly the arguments we were given. Owns nothing
//! else; it must never take an already-joined string apart.

/// Quote one argument for a POSIX shell. Words made only of safe characters are
/// left bare (readable logs); everything else is wrapped in single quotes, with
/// each `'` written as `'\''`.
pub fn quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b'@' | b'%' | b'+' | b','
                )
        });
    if safe {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Join argv into one command line for the remote shell, each word quoted.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round-trip through a real local `sh`: `printf '%s\n'` of the quoted
    /// words must print the original words.
    fn roundtrip(args: &[&str]) -> Vec<String> {
        let line = format!("printf '%s\\n' {}", command_line(args));
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert!(out.status.success(), "sh failed on {line:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn safe_words_stay_bare() {
        assert_eq!(quote("agent-runner"), "agent-runner");
        assert_eq!(quote("--version"), "--version");
        assert_eq!(quote("/a/b.c"), "/a/b.c");
    }

    #[test]
    fn unsafe_words_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote("*"), "'*'");
    }

    #[test]
    fn hostile_arguments_round_trip_through_sh() {
        let args = [
            "'; rm -rf /",
            "a b  c",
            "\"double\"",
            "it's",
            "$(id) `id` $HOME",
            "",
            "*",
            "back\\slash",
            "new\nline",
            "tab\there",
            "-n",
            "ünïcödé",
        ];
        let got = roundtrip(&args);
        // `new\nline` prints as two lines; compare against the same split.
        let want: Vec<String> = args
            .iter()
            .flat_map(|a| a.split('\n').map(str::to_string).collect::<Vec<_>>())
            .collect();
        assert_eq!(got, want);
    }
}
