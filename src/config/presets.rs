//! The embedded presets (`agent/presets/*.toml`), the prompt scaffold
//! (`agent/prompts/main.md`), and `init`, which writes them into a git work
//! tree and commits exactly the files it wrote.
//!
//! Also [`scaffold_paths`]: the files a round must never stash away, so a
//! project scaffolded with `--no-commit` survives its first round.

use super::Config;
use crate::cli::{CliError, CmdResult, GlobalArgs, InitArgs};
use crate::exit_code;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// `prompts/main.md` as `init` writes it (>= 500 bytes, starts with `#`).
pub const PROMPT_SCAFFOLD: &str = include_str!("../../agent/prompts/main.md");

/// In `demo.toml`, replaced by the absolute path of the demo agent script.
pub const DEMO_AGENT_PLACEHOLDER: &str = "{demo_agent}";
/// File name of the demo agent script, written next to the config.
pub const DEMO_AGENT_FILE: &str = "demo-agent.sh";
/// The line `init` makes sure `.gitignore` has.
pub const GITIGNORE_LINE: &str = "logs/";
/// Where `init` writes the prompt, relative to the project folder.
pub const PROMPT_REL_PATH: &str = "prompts/main.md";
const COMMIT_MESSAGE: &str = "chore: agent-runner initial config";

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

/// What `init` does.
#[derive(Debug, Clone)]
pub struct ScaffoldOptions<'a> {
    pub preset: &'a str,
    pub force: bool,
    pub commit: bool,
    /// The demo agent script text; required for the `demo` preset.
    pub demo_agent_script: Option<&'a str>,
}

/// What `init` did (the `InitResult` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitResult {
    pub work_dir: PathBuf,
    /// Files actually written, in order, absolute.
    pub files_created: Vec<PathBuf>,
    pub committed: bool,
    pub preset: String,
    /// Why the commit did not happen, when it was asked for.
    pub commit_note: Option<String>,
}

/// Why `init` refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("unknown preset '{0}' (choose one of: {list})", list = preset_names().join(", "))]
    UnknownPreset(String),
    #[error("'{}' is not a git working tree (run 'git init' there first)", .0.display())]
    NotGitTree(PathBuf),
    #[error("'{}' already exists (pass --force to overwrite it)", .0.display())]
    Exists(PathBuf),
    #[error("'{}' is a directory (pass --config DIR/agent-runner.toml)", .0.display())]
    IsDir(PathBuf),
    #[error(
        "the project name '{0}' (the folder's name) must match [A-Za-z0-9._-]+ (rename the folder)"
    )]
    BadProjectName(String),
    #[error("preset 'demo' needs the demo agent script (use 'agent-runner demo')")]
    DemoScriptMissing,
    #[error("cannot write '{}': {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("git failed: {0}")]
    Git(String),
}

impl InitError {
    /// Refusals are usage errors (2); failures while writing are 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            InitError::Io { .. } | InitError::Git(_) => exit_code::FAILURE,
            _ => exit_code::USAGE,
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, InitError> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| InitError::Git(format!("cannot run 'git': {e} (is git installed?)")))
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

fn write_file(path: &Path, text: &str) -> Result<(), InitError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| InitError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| InitError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Write the project files for `config_path` (absolute) and commit them if
/// asked. Only the files written here are staged and committed.
pub fn scaffold(config_path: &Path, opts: &ScaffoldOptions) -> Result<InitResult, InitError> {
    if preset(opts.preset).is_none() {
        return Err(InitError::UnknownPreset(opts.preset.to_string()));
    }
    let work_dir = config_path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let inside = git(&work_dir, &["rev-parse", "--is-inside-work-tree"])
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true")
        .unwrap_or(false);
    if !inside {
        return Err(InitError::NotGitTree(work_dir));
    }
    if config_path.is_dir() {
        return Err(InitError::IsDir(config_path.to_path_buf()));
    }
    if config_path.exists() && !opts.force {
        return Err(InitError::Exists(config_path.to_path_buf()));
    }
    let project = super::load::resolve_lenient(&work_dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "default".to_string());
    if project.is_empty()
        || !project
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(InitError::BadProjectName(project));
    }
    let demo_path = work_dir.join(DEMO_AGENT_FILE);
    let demo_script = if opts.preset == "demo" {
        Some(opts.demo_agent_script.ok_or(InitError::DemoScriptMissing)?)
    } else {
        None
    };
    let text = render(
        opts.preset,
        &project,
        demo_script.map(|_| demo_path.as_path()),
    )
    .ok_or_else(|| InitError::UnknownPreset(opts.preset.to_string()))?;

    let mut files = Vec::new();
    write_file(config_path, &text)?;
    files.push(config_path.to_path_buf());

    let prompt_path = work_dir.join(PROMPT_REL_PATH);
    if !prompt_path.exists() || opts.force {
        write_file(&prompt_path, PROMPT_SCAFFOLD)?;
        files.push(prompt_path);
    }

    if let Some(script) = demo_script {
        write_file(&demo_path, script)?;
        files.push(demo_path);
    }

    let gitignore = work_dir.join(".gitignore");
    let existing = match std::fs::read_to_string(&gitignore) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(InitError::Io {
                path: gitignore,
                source,
            })
        }
    };
    if !existing.lines().any(|l| l == GITIGNORE_LINE) {
        let mut new_text = existing.clone();
        if !new_text.is_empty() && !new_text.ends_with('\n') {
            new_text.push('\n');
        }
        new_text.push_str(GITIGNORE_LINE);
        new_text.push('\n');
        write_file(&gitignore, &new_text)?;
        files.push(gitignore);
    }

    let mut committed = false;
    let mut commit_note = None;
    if opts.commit {
        let rel: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(&work_dir)
                    .unwrap_or(f)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let mut add: Vec<&str> = vec!["add", "--"];
        add.extend(rel.iter().map(String::as_str));
        let out = git(&work_dir, &add)?;
        if !out.status.success() {
            return Err(InitError::Git(format!(
                "'git add' failed: {}",
                first_line(&out.stderr)
            )));
        }
        // `commit -- <paths>` commits only these paths, even when the user
        // had other changes staged.
        let mut commit: Vec<&str> = vec![
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "-m",
            COMMIT_MESSAGE,
            "--",
        ];
        commit.extend(rel.iter().map(String::as_str));
        let out = git(&work_dir, &commit)?;
        committed = out.status.success();
        if !committed {
            let why = first_line(&out.stderr);
            let why = if why.is_empty() {
                first_line(&out.stdout)
            } else {
                why
            };
            commit_note = Some(why);
        }
    }
    Ok(InitResult {
        work_dir,
        files_created: files,
        committed,
        preset: opts.preset.to_string(),
        commit_note,
    })
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

fn init_result_json(r: &InitResult) -> serde_json::Value {
    serde_json::json!({
        "work_dir": r.work_dir.to_string_lossy(),
        "files_created": r.files_created.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
        "committed": r.committed,
        "preset": r.preset,
    })
}

fn init_result_text(r: &InitResult) -> String {
    let files: Vec<String> = r
        .files_created
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    format!(
        "InitResult:\n  work_dir: {}\n  files_created: [{}]\n  committed: {}\n  preset: {}\n",
        r.work_dir.display(),
        files.join(", "),
        r.committed,
        r.preset
    )
}

/// `agent-runner init`.
pub fn cmd_init(g: &GlobalArgs, a: &InitArgs) -> CmdResult {
    let config_path = super::absolute_config_path(&g.config)?;
    let opts = ScaffoldOptions {
        preset: &a.preset,
        force: a.force,
        commit: !a.no_commit,
        demo_agent_script: Some(crate::demo::DEMO_AGENT),
    };
    let r =
        scaffold(&config_path, &opts).map_err(|e| CliError::new(e.exit_code(), e.to_string()))?;
    if g.json {
        println!(
            "{}",
            crate::state::pyjson::to_pretty_ascii(&init_result_json(&r))
        );
    } else {
        print!("{}", init_result_text(&r));
    }
    if let Some(note) = &r.commit_note {
        eprintln!("agent-runner: warning: the new files were not committed: {note}");
    }
    if !opts.commit {
        eprintln!(
            "agent-runner: warning: the new files are not committed; commit them before the first round \
             (rounds leave the config and prompt files alone, but other uncommitted work is stashed)"
        );
    }
    Ok(exit_code::OK)
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
