//! A line map of a TOML file, enough to edit it as text without losing its
//! comments: which lines are table headers, which start a `key = value`
//! (and where the value ends, for values over several lines), with each
//! key's full dotted path. Strings (all four kinds), arrays, inline tables
//! and comments are tracked so a `=` or `[` inside them is never taken for
//! syntax. The caller parses the file with the real TOML parser first; this
//! only locates what that parser found.

/// A `[table]` or `[[array.of.tables]]` header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub line: usize,
    pub path: Vec<String>,
    pub array: bool,
}

/// A `key = value` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The table path of the header above it (empty at the top level).
    pub table: Vec<String>,
    /// The key as written (dotted keys split).
    pub key: Vec<String>,
    /// The first and the last line of the entry (the value may span lines).
    pub first: usize,
    pub last: usize,
    /// Byte range of the key text in the first line.
    pub key_span: (usize, usize),
    /// The value's text (from after `=` to before a trailing comment),
    /// trimmed; over several lines for a multi-line value.
    pub value: String,
    /// A trailing `# comment` on the last line, with its leading spaces.
    pub comment: String,
}

impl Entry {
    /// The full dotted path: table path + key.
    pub fn path(&self) -> Vec<String> {
        let mut p = self.table.clone();
        p.extend(self.key.iter().cloned());
        p
    }
    #[cfg(test)]
    pub fn dotted(&self) -> String {
        self.path().join(".")
    }
}

/// The map of one file.
#[derive(Debug, Clone, Default)]
pub struct Map {
    pub headers: Vec<Header>,
    pub entries: Vec<Entry>,
}

impl Map {
    /// Entries whose full path is `path`.
    pub fn find(&self, path: &[&str]) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| {
                let p = e.path();
                p.len() == path.len() && p.iter().zip(path).all(|(a, b)| a == b)
            })
            .collect()
    }

    /// The header of exactly `path` (not an array of tables).
    pub fn header(&self, path: &[&str]) -> Option<&Header> {
        self.headers.iter().find(|h| {
            !h.array && h.path.len() == path.len() && h.path.iter().zip(path).all(|(a, b)| a == b)
        })
    }

    /// The last line of the section opened by the header at `line`: the
    /// line before the next header, less trailing blank lines.
    pub fn section_end(&self, line: usize, lines: &[String]) -> usize {
        let next = self
            .headers
            .iter()
            .map(|h| h.line)
            .filter(|l| *l > line)
            .min()
            .unwrap_or(lines.len());
        let mut end = next.saturating_sub(1).max(line);
        while end > line && lines[end].trim().is_empty() {
            end -= 1;
        }
        end
    }
}

/// Split a key (or header path) text into its parts: bare keys, `"…"` and
/// `'…'` quoted keys, joined by dots with optional spaces.
pub fn key_parts(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut part = String::new();
        match chars.peek() {
            Some('"') => {
                chars.next();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let c = chars.next()?;
                            part.push(match c {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        c => part.push(c),
                    }
                }
            }
            Some('\'') => {
                chars.next();
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => part.push(c),
                    }
                }
            }
            Some(_) => {
                while let Some(c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || *c == '_' || *c == '-' {
                        part.push(*c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if part.is_empty() {
                    return None;
                }
            }
            None => return None,
        }
        parts.push(part);
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Str {
    None,
    Basic,
    Literal,
    MultiBasic,
    MultiLiteral,
}

/// Scan `text` from byte `from` to the end of the value that starts there:
/// the byte where the value ends (before a comment or the line end) and
/// the index of the line it ends on. Brackets, braces and strings nest.
fn value_end(lines: &[String], first: usize, from: usize) -> (usize, usize) {
    let mut depth = 0i32;
    let mut state = Str::None;
    let mut li = first;
    let mut start = from;
    loop {
        let line = &lines[li];
        let b = line.as_bytes();
        let mut i = start;
        while i < b.len() {
            let rest = &b[i..];
            match state {
                Str::None => match b[i] {
                    b'#' => {
                        if depth == 0 {
                            return (i, li);
                        }
                        break;
                    }
                    b'"' if rest.starts_with(b"\"\"\"") => {
                        state = Str::MultiBasic;
                        i += 2;
                    }
                    b'\'' if rest.starts_with(b"'''") => {
                        state = Str::MultiLiteral;
                        i += 2;
                    }
                    b'"' => state = Str::Basic,
                    b'\'' => state = Str::Literal,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => depth -= 1,
                    _ => {}
                },
                Str::Basic => match b[i] {
                    b'\\' => i += 1,
                    b'"' => state = Str::None,
                    _ => {}
                },
                Str::Literal => {
                    if b[i] == b'\'' {
                        state = Str::None;
                    }
                }
                Str::MultiBasic => {
                    if b[i] == b'\\' {
                        i += 1;
                    } else if rest.starts_with(b"\"\"\"") {
                        state = Str::None;
                        i += 2;
                    }
                }
                Str::MultiLiteral => {
                    if rest.starts_with(b"'''") {
                        state = Str::None;
                        i += 2;
                    }
                }
            }
            i += 1;
        }
        let open = depth > 0 || matches!(state, Str::MultiBasic | Str::MultiLiteral);
        if !open || li + 1 >= lines.len() {
            return (line.len(), li);
        }
        li += 1;
        start = 0;
    }
}

/// The line map of `lines`.
pub fn map(lines: &[String]) -> Map {
    let mut m = Map::default();
    let mut table: Vec<String> = Vec::new();
    let mut li = 0;
    while li < lines.len() {
        let line = &lines[li];
        let t = line.trim_start();
        let indent = line.len() - t.len();
        if t.is_empty() || t.starts_with('#') {
            li += 1;
            continue;
        }
        if let Some(rest) = t.strip_prefix('[') {
            let array = rest.starts_with('[');
            let inner = if array { &rest[1..] } else { rest };
            let close = if array { "]]" } else { "]" };
            if let Some(end) = inner.find(close) {
                if let Some(path) = key_parts(&inner[..end]) {
                    table = path.clone();
                    m.headers.push(Header {
                        line: li,
                        path,
                        array,
                    });
                }
            }
            li += 1;
            continue;
        }
        // key = value: the key ends at the first '=' outside quotes
        let b = t.as_bytes();
        let mut q = None::<u8>;
        let mut eq = None;
        for (i, c) in b.iter().enumerate() {
            match (q, c) {
                (None, b'"') | (None, b'\'') => q = Some(*c),
                (Some(x), c) if *c == x => q = None,
                (None, b'=') => {
                    eq = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(eq) = eq else {
            li += 1;
            continue;
        };
        let Some(key) = key_parts(&t[..eq]) else {
            li += 1;
            continue;
        };
        let key_text = t[..eq].trim_end();
        let value_start = indent + eq + 1;
        let (end_byte, last) = value_end(lines, li, value_start);
        let value = if last == li {
            line[value_start..end_byte].trim().to_string()
        } else {
            let mut v = line[value_start..].trim_start().to_string();
            for l in &lines[li + 1..last] {
                v.push('\n');
                v.push_str(l);
            }
            v.push('\n');
            v.push_str(lines[last][..end_byte].trim_end());
            v
        };
        let comment = lines[last][end_byte..].to_string();
        let comment = if comment.trim().is_empty() {
            String::new()
        } else {
            let spaces = lines[last][..end_byte].len() - lines[last][..end_byte].trim_end().len();
            format!(
                "{}{}",
                &lines[last][end_byte - spaces..end_byte],
                comment.trim_end()
            )
        };
        m.entries.push(Entry {
            table: table.clone(),
            key,
            first: li,
            last,
            key_span: (indent, indent + key_text.len()),
            value,
            comment,
        });
        li = last + 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    #[test]
    fn headers_entries_and_multi_line_values() {
        let l = lines(
            "# top\nschema_version = 1\n[agent]\ncommand = [\n  \"a\", # not a key = x\n  \"b\",\n]  # trailing\n\
             'quoted.key' = \"x = [y]\" # c\nprompt.files = ['p']\n[[goal.checks]]\nname = \"\"\"\nmulti = line\n\"\"\"\n",
        );
        let m = map(&l);
        assert_eq!(m.headers.len(), 2);
        assert_eq!(m.headers[1].path, ["goal", "checks"]);
        assert!(m.headers[1].array);
        let e: Vec<String> = m.entries.iter().map(Entry::dotted).collect();
        assert_eq!(
            e,
            [
                "schema_version",
                "agent.command",
                "agent.quoted.key",
                "agent.prompt.files",
                "goal.checks.name"
            ]
        );
        let cmd = &m.entries[1];
        assert_eq!((cmd.first, cmd.last), (3, 6));
        assert_eq!(cmd.comment, "  # trailing");
        assert_eq!(m.entries[2].key, ["quoted.key"]);
        assert_eq!(m.entries[2].value, "\"x = [y]\"");
        assert_eq!(m.entries[2].comment, " # c");
        assert_eq!((m.entries[4].first, m.entries[4].last), (10, 12));
        assert_eq!(m.find(&["agent", "prompt", "files"]).len(), 1);
    }

    #[test]
    fn key_texts() {
        assert_eq!(
            key_parts(" a . \"b.c\" .'d'"),
            Some(vec!["a".into(), "b.c".into(), "d".into()])
        );
        assert_eq!(key_parts("a b"), None);
        assert_eq!(key_parts(""), None);
    }
}
