//! `agent-runner demo`: the main job on an embedded demo agent, narrated.

use super::{CliError, CmdResult, GlobalArgs};
use crate::demo::{self, DemoError};
use crate::exit_code;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Project directory to create (default: a fresh temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Upper bound on rounds (the demo agent asks to stop after its fourth).
    #[arg(long, default_value_t = 5)]
    pub rounds: u64,
}

pub fn run(_g: &GlobalArgs, a: &DemoArgs) -> CmdResult {
    let root = demo::root_dir(a.dir.as_deref()).map_err(error)?;
    let mut out = std::io::stdout();
    let d = demo::run(&root, a.rounds, &mut out).map_err(error)?;
    let s = &d.summary;
    println!();
    println!("summary:");
    println!("  rounds: {}", s.rounds.len());
    for (n, c) in &s.rounds {
        println!("    R{n}: {c}");
    }
    println!("  stashes: {}", s.stashes.len());
    println!("  stopped by: {}", s.stop.as_deref().unwrap_or("?"));
    println!("  logs: {}", d.log_dir.display());
    println!(
        "  look closer: agent-runner --config {} peek",
        d.config.display()
    );
    match d.status.code() {
        Some(0) => Ok(exit_code::OK),
        Some(c) => Err(CliError::new(
            c,
            format!("the demo's serve exited with {c}"),
        )),
        None => Err(CliError::failure("the demo's serve was killed by a signal")),
    }
}

fn error(e: DemoError) -> CliError {
    match e {
        DemoError::NotEmpty(_) | DemoError::Config(_) => CliError::usage(e.to_string()),
        _ => CliError::failure(e.to_string()),
    }
}
