//! `agent-runner init`: scaffold a project from a preset.

use super::{CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::scaffold::{self, InitResult, ScaffoldOptions};
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Preset to scaffold from.
    #[arg(long, default_value = "claude")]
    pub preset: String,
    /// Overwrite an existing agent-runner.toml / prompt.
    #[arg(long)]
    pub force: bool,
    /// Commit the files written (default).
    #[arg(long, conflicts_with = "no_commit")]
    pub commit: bool,
    /// Do not commit.
    #[arg(long)]
    pub no_commit: bool,
}

pub fn run(g: &GlobalArgs, a: &InitArgs) -> CmdResult {
    let config_path = crate::config::absolute_config_path(&g.config)?;
    let opts = ScaffoldOptions {
        preset: &a.preset,
        force: a.force,
        commit: !a.no_commit,
        demo_agent_script: Some(crate::config::presets::DEMO_AGENT),
    };
    let r = scaffold::scaffold(&config_path, &opts).map_err(|e| {
        let code = if e.is_refusal() {
            exit_code::USAGE
        } else {
            exit_code::FAILURE
        };
        CliError::new(code, e.to_string())
    })?;
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
