//! The built-in parsers by name: the name `[plugins] disable` turns one off
//! with (upstream 0.3's manifest names, plus our `codex`), which agent
//! binary each reads, and the warnings for a `disable` name that turns
//! nothing off.

/// The built-in parsers; each reads the output of the agent CLI of the same
/// name.
pub const BUILTIN: &[&str] = &["claude", "gemini", "codewhale", "codex", "kimi", "pi"];

/// The built-in parser for `agent_binary` (a path is reduced to its
/// basename), if there is one.
pub fn parser_for(agent_binary: &str) -> Option<&'static str> {
    let name = std::path::Path::new(agent_binary)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(agent_binary);
    BUILTIN.iter().copied().find(|p| *p == name)
}

/// The 0.2 hook-level name's 0.3 parser name (`None`: the hook has no
/// successor, e.g. `default_dirty_handler`).
pub fn renamed(old: &str) -> Option<&'static str> {
    crate::config::migrate::renamed_hook(old)
}

/// One warning per `[plugins] disable` name that turns nothing off. It only
/// warns, as upstream does: a stale name never stops a round. A 0.2 hook
/// name gets the name to write instead.
pub fn disable_warnings(disable: &[String]) -> Vec<String> {
    disable
        .iter()
        .filter(|d| !BUILTIN.contains(&d.as_str()))
        .map(|d| match renamed(d) {
            Some(n) => format!(
                "[plugins] disable: '{d}' is a 0.2 hook name and turns nothing off; write '{n}' (run 'agent-runner migrate')"
            ),
            None => format!(
                "[plugins] disable: '{d}' names no built-in parser and turns nothing off (built-ins: {})",
                BUILTIN.join(", ")
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_names_and_disable_warnings() {
        assert_eq!(parser_for("/usr/bin/claude"), Some("claude"));
        assert_eq!(parser_for("aider"), None);
        assert!(disable_warnings(&["pi".into(), "codex".into()]).is_empty());
        let w = disable_warnings(&["claude_rate_limit".into(), "nope".into()]);
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("write 'claude'"), "{w:?}");
        assert!(w[1].contains("'nope' names no built-in parser"), "{w:?}");
    }
}
