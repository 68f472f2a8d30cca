//! Prompt assembly (spec §6.5): read the prompt files, strip YAML front matter
//! from the first, join with the separator, prepend the round-context block;
//! and the smoke check the startup battery runs on the result.

use serde_json::Value;
use std::path::PathBuf;

/// The minimum size of an assembled prompt (bytes).
pub const SMOKE_MIN_BYTES: usize = 500;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PromptError {
    #[error("no prompt files configured (set prompt.files or prompt.file)")]
    NoFiles,
    #[error("prompt.files[0] missing: {0}")]
    FirstMissing(PathBuf),
    #[error("cannot read prompt file {0}: {1}")]
    Unreadable(PathBuf, String),
}

/// Strip a leading `---\n … \n---\n` block, then leading whitespace.
pub fn strip_frontmatter(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---\n") {
            return rest[end + 5..].trim_start();
        }
    }
    text
}

/// Read and join the prompt files. Missing files after the first are skipped
/// with a warning.
pub fn assemble_body(
    files: &[PathBuf],
    separator: &str,
    strip_yaml: bool,
) -> Result<String, PromptError> {
    let Some(first) = files.first() else {
        return Err(PromptError::NoFiles);
    };
    let mut parts: Vec<String> = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        match std::fs::read(f) {
            Ok(b) => {
                let s = String::from_utf8_lossy(&b).into_owned();
                parts.push(if i == 0 && strip_yaml {
                    strip_frontmatter(&s).to_string()
                } else {
                    s
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if i == 0 {
                    return Err(PromptError::FirstMissing(first.clone()));
                }
                tracing::warn!("prompt.files[{i}] missing: {} — skipping", f.display());
            }
            Err(e) => return Err(PromptError::Unreadable(f.clone(), e.to_string())),
        }
    }
    Ok(parts.join(separator))
}

/// The round-context block prepended to the prompt.
pub fn context_block(context: &Value) -> String {
    format!(
        "```json round-context\n{}\n```\n\n",
        crate::state::pyjson::to_pretty(context)
    )
}

/// Why an assembled prompt fails the smoke check, if it does.
pub fn smoke_problem(prompt: &str) -> Option<(String, String)> {
    if prompt.is_empty() {
        return Some(("assembled prompt is empty".into(), String::new()));
    }
    if let Some(c) = prompt
        .chars()
        .next()
        .filter(|c| matches!(c, '-' | ' ' | '\n' | '\t' | '\r'))
    {
        let shown = match c {
            '\n' => "\\n".to_string(),
            '\t' => "\\t".to_string(),
            '\r' => "\\r".to_string(),
            c => c.to_string(),
        };
        return Some((
            format!("first char '{shown}' is forbidden (R721 — agent CLI argv parsers may reject leading dash/whitespace as a flag terminator)"),
            "ensure the prompt body does not start with -, space, or newline".into(),
        ));
    }
    if prompt.len() < SMOKE_MIN_BYTES {
        return Some((
            format!(
                "prompt is {} bytes < {SMOKE_MIN_BYTES} minimum",
                prompt.len()
            ),
            "add substantive content — a stub prompt suggests a broken config".into(),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontmatter_is_stripped_only_when_closed() {
        assert_eq!(strip_frontmatter("---\na: 1\n---\n\n# Body"), "# Body");
        assert_eq!(
            strip_frontmatter("---\na: 1\n# no close"),
            "---\na: 1\n# no close"
        );
        assert_eq!(strip_frontmatter("# plain"), "# plain");
    }

    #[test]
    fn smoke_rules() {
        assert!(smoke_problem("").is_some());
        assert!(
            smoke_problem(&format!("-{}", "x".repeat(600))).is_some_and(|(r, _)| r.contains("'-'"))
        );
        assert!(smoke_problem("short").is_some_and(|(r, _)| r == "prompt is 5 bytes < 500 minimum"));
        assert!(smoke_problem(&"x".repeat(500)).is_none());
    }

    #[test]
    fn joins_and_skips_missing_later_files() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = d.path().join("a.md");
        std::fs::write(&a, "---\nx: 1\n---\nA").unwrap_or_default();
        let b = d.path().join("b.md");
        std::fs::write(&b, "B").unwrap_or_default();
        let body = assemble_body(&[a.clone(), d.path().join("missing.md"), b], "\n--\n", true);
        assert_eq!(body, Ok("A\n--\nB".to_string()));
        assert_eq!(
            assemble_body(&[d.path().join("nope.md"), a], "", true),
            Err(PromptError::FirstMissing(d.path().join("nope.md")))
        );
    }
}
