//! `agent-runner man [VERB]`: the manual page, in roff, generated from the
//! same clap definitions that parse the command line. `agent-runner(1)` lists
//! the verbs; each verb has its page, `agent-runner-<verb>(1)`, with its
//! options. `--dir DIR` writes every page into DIR (what `scripts/dist`
//! packages).

use super::{write_stdout, Cli, CliError, CmdResult};
use crate::exit_code;
use clap::{Args, CommandFactory};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// The verb whose page to print (default: the page of agent-runner).
    /// Read one with `agent-runner man | man -l -`.
    #[arg(value_name = "VERB", conflicts_with = "dir")]
    pub verb: Option<String>,
    /// Write every page (agent-runner.1 and agent-runner-<verb>.1) into this
    /// directory, created if missing, and print their paths.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The whole command, built (global options propagated to the verbs, which
/// are named `agent-runner-<verb>` in their pages); no `help` verb.
fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

pub fn run(a: &ManArgs) -> CmdResult {
    let root = command();
    if let Some(dir) = &a.dir {
        return write_all(root, dir);
    }
    let page = match &a.verb {
        None => root,
        Some(v) => match root.find_subcommand(v) {
            Some(sub) => sub.clone(),
            None => {
                let verbs: Vec<&str> = root.get_subcommands().map(|s| s.get_name()).collect();
                return Err(CliError::usage(format!(
                    "no verb '{v}' (verbs: {})",
                    verbs.join(", ")
                )));
            }
        },
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| CliError::failure(format!("cannot render the manual page: {e}")))?;
    write_stdout(&roff)
}

fn write_all(root: clap::Command, dir: &std::path::Path) -> CmdResult {
    let failed = |e: std::io::Error| {
        CliError::failure(format!(
            "cannot write the manual pages into '{}': {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut pages = vec![root.clone()];
    pages.extend(root.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    let mut listing = String::new();
    for page in pages {
        let path = clap_mangen::Man::new(page)
            .generate_to(dir)
            .map_err(failed)?;
        listing.push_str(&format!("{}\n", path.display()));
    }
    write_stdout(listing.as_bytes())?;
    Ok(exit_code::OK)
}
