//! The embedded agent files: the presets (`agent/presets/*.toml`), the prompt
//! scaffold (`agent/prompts/main.md`) and the demo agent with its prompt.
//! `crate::scaffold` writes them into a project.
//!
//! Also [`scaffold_paths`]: the files a round must never stash away, so a
//! project scaffolded with `--no-commit` survives its first round.

use super::Config;
use std::path::{Path, PathBuf};

/// A preset: its `--preset` name and its TOML text (with placeholders).
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub text: &'static str,
}

/// Every shipped preset, sorted by name.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "aider",
        text: include_str!("../../agent/presets/aider.toml"),
    },
    Preset {
        name: "claude",
        text: include_str!("../../agent/presets/claude.toml"),
    },
    Preset {
        name: "codewhale",
        text: include_str!("../../agent/presets/codewhale.toml"),
    },
    Preset {
        name: "codex",
        text: include_str!("../../agent/presets/codex.toml"),
    },
    Preset {
        name: "demo",
        text: include_str!("../../agent/presets/demo.toml"),
    },
    Preset {
        name: "gemini",
        text: include_str!("../../agent/presets/gemini.toml"),
    },
    Preset {
        name: "kimi",
        text: include_str!("../../agent/presets/kimi.toml"),
    },
    Preset {
        name: "pi",
        text: include_str!("../../agent/presets/pi.toml"),
    },
];

/// What the Python tool's plugin manifest says of a built-in agent (0.3 delta
/// §3.7, §3.8), keyed by the basename of `command[0]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentManifest {
    pub agent: &'static str,
    /// The signal a requested stop sends first (`SIGINT` / `SIGTERM`), if the
    /// agent stops cooperatively.
    pub cooperative_stop: Option<&'static str>,
    /// The flag that resumes a session across rounds (`--session-id`).
    pub resume_flag: Option<&'static str>,
}

/// The built-in manifests, sorted by agent.
pub const AGENT_MANIFESTS: &[AgentManifest] = &[
    AgentManifest {
        agent: "claude",
        cooperative_stop: Some("SIGINT"),
        resume_flag: None,
    },
    AgentManifest {
        agent: "gemini",
        cooperative_stop: Some("SIGTERM"),
        resume_flag: None,
    },
    AgentManifest {
        agent: "pi",
        cooperative_stop: Some("SIGTERM"),
        resume_flag: Some("--session-id"),
    },
];

/// The manifest of the agent whose `command[0]` basename is `agent_binary`.
pub fn manifest(agent_binary: &str) -> Option<&'static AgentManifest> {
    AGENT_MANIFESTS.iter().find(|m| m.agent == agent_binary)
}

/// `prompts/main.md` as `init` writes it (>= 500 bytes, starts with `#`).
pub const PROMPT_SCAFFOLD: &str = include_str!("../../agent/prompts/main.md");

/// The demo agent: a shell script that plays one scene per round.
pub const DEMO_AGENT: &str = include_str!("../../agent/demo-agent.sh");
/// The demo project's prompt.
pub const DEMO_PROMPT: &str = include_str!("../../agent/demo-prompt.md");

/// In `demo.toml`, replaced by the absolute path of the demo agent script.
pub const DEMO_AGENT_PLACEHOLDER: &str = "{demo_agent}";
/// File name of the demo agent script, written next to the config.
pub const DEMO_AGENT_FILE: &str = "demo-agent.sh";
/// The line `init` makes sure `.gitignore` has.
pub const GITIGNORE_LINE: &str = "logs/";
/// Where `init` writes the prompt, relative to the project folder.
pub const PROMPT_REL_PATH: &str = "prompts/main.md";

/// The preset text for `name`.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|p| p.name == name).map(|p| p.text)
}

/// Names of all shipped presets, sorted.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

/// Preset text with `{project}` replaced by `project` and, for `demo`,
/// `"{demo_agent}"` by the quoted `demo_agent` path.
pub fn render(name: &str, project: &str, demo_agent: Option<&Path>) -> Option<String> {
    let mut text = preset(name)?.replace("{project}", project);
    if let Some(p) = demo_agent {
        let quoted = toml::Value::String(p.to_string_lossy().into_owned()).to_string();
        text = text.replace(&format!("\"{DEMO_AGENT_PLACEHOLDER}\""), &quoted);
    }
    Some(text)
}

/// Files a round's dirty-tree handling must leave alone: the config file,
/// every prompt file (global and per phase), `.gitignore`, and the demo
/// agent script, each only if it lies inside `work_dir`. Absolute paths.
pub fn scaffold_paths(cfg: &Config) -> Vec<PathBuf> {
    let work = &cfg.runtime.work_dir;
    let mut out: Vec<PathBuf> = vec![cfg.path.clone()];
    out.extend(cfg.prompt.global_files());
    for ov in cfg.phases.overrides.values() {
        out.extend(ov.prompt_files.iter().flatten().cloned());
    }
    out.push(work.join(".gitignore"));
    out.extend(
        cfg.agent
            .command
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.file_name() == Some(DEMO_AGENT_FILE.as_ref())),
    );
    let mut seen = Vec::new();
    for p in out {
        // Compare on the resolved form so a symlinked config path still matches.
        let inside = p.starts_with(work) || super::load::resolve_lenient(&p).starts_with(work);
        if inside && !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_scaffold_passes_the_smoke_rules() {
        assert!(PROMPT_SCAFFOLD.len() >= 500);
        let first = PROMPT_SCAFFOLD.chars().next().unwrap();
        assert!(!matches!(first, '-' | ' ' | '\t' | '\r' | '\n'));
    }

    #[test]
    fn presets_are_sorted_and_start_with_schema_version() {
        let names = preset_names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 8);
        for p in PRESETS {
            assert!(
                p.text.starts_with("schema_version = 1\n"),
                "{} does not start with schema_version",
                p.name
            );
        }
    }

    #[test]
    fn render_substitutes_project_and_demo_path() {
        let t = render("claude", "myproj", None).unwrap();
        assert!(t.contains("log_dir = \"~/.agent-runner/myproj/logs\""));
        assert!(!t.contains("{project}"));
        let t = render("demo", "p", Some(Path::new("/x/y \"z\"/demo-agent.sh"))).unwrap();
        let parsed: toml::Table = toml::from_str(&t).unwrap();
        let cmd = parsed["agent"]["command"].as_array().unwrap();
        assert_eq!(cmd[1].as_str(), Some("/x/y \"z\"/demo-agent.sh"));
        assert!(render("nope", "p", None).is_none());
    }
}
