//! `init`'s work: write a preset's project files (config, prompt,
//! `.gitignore`, the demo agent script) into a git work tree and commit
//! exactly the files it wrote. The presets themselves are data in
//! [`crate::config::presets`].

use crate::config::presets::{
    preset, preset_names, render, DEMO_AGENT_FILE, GITIGNORE_LINE, PROMPT_REL_PATH, PROMPT_SCAFFOLD,
};
use std::path::{Path, PathBuf};
use std::process::Command;

const COMMIT_MESSAGE: &str = "chore: agent-runner initial config";

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
    /// A refusal (bad preset, not a git tree, file exists, …) rather than a
    /// failure while writing or committing.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, InitError::Io { .. } | InitError::Git(_))
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
    let project = crate::config::load::resolve_lenient(&work_dir)
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
