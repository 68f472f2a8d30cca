//! Splitting one ssh_config line the way OpenSSH's `readconf.c` does: the
//! keyword (ended by whitespace or a single `=`), the raw rest of the line
//! (ProxyCommand and ProxyJump take it verbatim) and the arguments split with
//! OpenSSH's `argv_split` rules (double or single quotes, backslash escapes,
//! `#` starting a comment only at the start of an argument).
//!
//! Knows nothing about what keywords mean.

/// One non-empty, non-comment line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Lowercased keyword.
    pub keyword: String,
    /// The rest of the line after the keyword separator, leading whitespace
    /// removed, trailing whitespace stripped.
    pub rest: String,
    /// The arguments.
    pub args: Vec<String>,
}

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// A keyword with nothing after it.
    NoArgument(String),
    /// An opening quote without its closing quote.
    InvalidQuotes,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::NoArgument(k) => write!(f, "no argument after keyword '{k}'"),
            LineError::InvalidQuotes => {
                write!(f, "invalid quotes (an opening quote is not closed)")
            }
        }
    }
}

const WHITESPACE: &[char] = &[' ', '\t', '\r', '\n'];

/// Split a raw line. `Ok(None)` for blank lines and comments.
pub fn split_line(raw: &str) -> Result<Option<Line>, LineError> {
    let line = raw.trim_end_matches([' ', '\t', '\r', '\n', '\x0c']);
    let s = line.trim_start_matches(WHITESPACE);
    if s.is_empty() || s.starts_with('#') {
        return Ok(None);
    }
    // Keyword: up to whitespace, '=' or a quote (strdelim).
    let end = s
        .find(|c: char| WHITESPACE.contains(&c) || c == '=' || c == '"')
        .unwrap_or(s.len());
    let keyword = s[..end].to_ascii_lowercase();
    let mut rest = &s[end..];
    // Skip whitespace, at most one '=', whitespace.
    rest = rest.trim_start_matches(WHITESPACE);
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(WHITESPACE);
    }
    if rest.is_empty() {
        return Err(LineError::NoArgument(keyword));
    }
    let args = argv_split(rest)?;
    Ok(Some(Line {
        keyword,
        rest: rest.to_string(),
        args,
    }))
}

/// OpenSSH's `argv_split(s, .., terminate_on_comment = 1)`.
pub fn argv_split(s: &str) -> Result<Vec<String>, LineError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' {
            i += 1;
            continue;
        }
        if c == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                match chars.get(i + 1) {
                    Some(&n)
                        if n == '\'' || n == '"' || n == '\\' || (quote.is_none() && n == ' ') =>
                    {
                        arg.push(n);
                        i += 2;
                    }
                    _ => {
                        arg.push('\\');
                        i += 1;
                    }
                }
                continue;
            }
            match quote {
                None if c == ' ' || c == '\t' => break,
                None if c == '"' || c == '\'' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ => arg.push(c),
            }
            i += 1;
        }
        if quote.is_some() {
            return Err(LineError::InvalidQuotes);
        }
        out.push(arg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(s: &str) -> Line {
        split_line(s).unwrap().unwrap()
    }

    #[test]
    fn separators() {
        for l in [
            "Port 22",
            "Port=22",
            "Port = 22",
            "\tPort\t22  ",
            "  port  =  22",
        ] {
            let x = sp(l);
            assert_eq!(x.keyword, "port", "{l}");
            assert_eq!(x.args, vec!["22"], "{l}");
        }
        // Only one '=' is a separator.
        assert_eq!(sp("User==x").args, vec!["=x"]);
    }

    #[test]
    fn blanks_and_comments() {
        assert_eq!(split_line("").unwrap(), None);
        assert_eq!(split_line("   \t").unwrap(), None);
        assert_eq!(split_line("# Port 22").unwrap(), None);
        assert_eq!(split_line("   # x").unwrap(), None);
        assert_eq!(sp("Port 22 # trailing").args, vec!["22"]);
        // '#' inside an argument is literal.
        assert_eq!(sp("User a#b").args, vec!["a#b"]);
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(sp("HostName \"my host\"").args, vec!["my host"]);
        assert_eq!(sp("User 'a b'").args, vec!["a b"]);
        assert_eq!(sp("User a\\ b").args, vec!["a b"]);
        assert_eq!(sp(r#"User "a\"b""#).args, vec!["a\"b"]);
        assert_eq!(sp("IdentityFile \"/x y/k\" /z").args, vec!["/x y/k", "/z"]);
        assert_eq!(split_line("User \"open"), Err(LineError::InvalidQuotes));
    }

    #[test]
    fn missing_argument() {
        assert_eq!(
            split_line("Port"),
            Err(LineError::NoArgument("port".into()))
        );
        assert_eq!(
            split_line("Port ="),
            Err(LineError::NoArgument("port".into()))
        );
        assert_eq!(
            split_line("Port   \r\n"),
            Err(LineError::NoArgument("port".into()))
        );
    }

    #[test]
    fn rest_is_raw() {
        let l = sp("ProxyCommand ssh -W '%h:%p' jump # c");
        assert_eq!(l.rest, "ssh -W '%h:%p' jump # c");
        assert_eq!(l.args, vec!["ssh", "-W", "%h:%p", "jump"]);
    }
}

/// OpenSSH's `strdelim` applied until the line is used up: how `Match`
/// reads its criteria. Unlike [`argv_split`]: only double quotes, no
/// backslash escapes, and a single `=` also separates.
pub fn strdelim_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = Some(s.to_string());
    while let Some(s) = cur.take() {
        let Some(pos) = s.find(|c: char| WHITESPACE.contains(&c) || c == '"' || c == '=') else {
            if !s.is_empty() {
                out.push(s);
            }
            break;
        };
        let (tok, rest) = if s[pos..].starts_with('"') {
            let inner = &s[pos + 1..];
            let Some(close) = inner.find('"') else {
                break; // no matching quote: strdelim returns NULL
            };
            let tok = format!("{}{}", &s[..pos], &inner[..close]);
            (
                tok,
                inner[close + 1..]
                    .trim_start_matches(WHITESPACE)
                    .to_string(),
            )
        } else {
            let was_eq = s[pos..].starts_with('=');
            let mut rest = s[pos + 1..].trim_start_matches(WHITESPACE);
            if !was_eq {
                if let Some(r) = rest.strip_prefix('=') {
                    rest = r.trim_start_matches(WHITESPACE);
                }
            }
            (s[..pos].to_string(), rest.to_string())
        };
        if tok.is_empty() {
            break;
        }
        out.push(tok);
        cur = Some(rest);
    }
    out
}

#[cfg(test)]
mod strdelim_tests {
    use super::strdelim_tokens;

    #[test]
    fn match_tokenizer() {
        assert_eq!(
            strdelim_tokens("host a,b user x"),
            vec!["host", "a,b", "user", "x"]
        );
        assert_eq!(strdelim_tokens("host=a"), vec!["host", "a"]);
        assert_eq!(strdelim_tokens("host = a"), vec!["host", "a"]);
        assert_eq!(strdelim_tokens("user 'root'"), vec!["user", "'root'"]);
        assert_eq!(
            strdelim_tokens("host \"a b\" all"),
            vec!["host", "a b", "all"]
        );
        assert_eq!(strdelim_tokens("host a\\ b"), vec!["host", "a\\", "b"]);
        assert_eq!(strdelim_tokens("all # c"), vec!["all", "#", "c"]);
    }
}
