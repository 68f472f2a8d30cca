//! `agent-runner peek`: the ProjectState document as JSON (indent 2) or as
//! readable text, with `--round`, `--log`, `--events` and `--select`.

use super::{load_config, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::observe::peek;
use crate::observe::state::PeekOptions;
use clap::Args;
use serde_json::Value;

/// `--round` value: a number or `latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundSel {
    Latest,
    N(u64),
}

fn parse_round(s: &str) -> Result<RoundSel, String> {
    if s == "latest" {
        return Ok(RoundSel::Latest);
    }
    s.parse::<u64>()
        .map(RoundSel::N)
        .map_err(|_| format!("--round expects int or 'latest', got '{s}'"))
}

/// A count that must be at least 1 (`--events`, `--window`).
pub(super) fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expects positive int (> 0), got '{s}'")),
    }
}

#[derive(Debug, Clone, Args)]
pub struct PeekArgs {
    /// Show this round (a number or 'latest'; default: the latest).
    #[arg(long, value_name = "N|latest", value_parser = parse_round)]
    pub round: Option<RoundSel>,
    /// Include the round's log tail (last 50 lines).
    #[arg(long)]
    pub log: bool,
    /// Include the last N events.
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub events: Option<usize>,
    /// Print only this part of the document (dotted path, list indices).
    #[arg(long, value_name = "PATH")]
    pub select: Option<String>,
}

impl PeekArgs {
    fn options(&self) -> PeekOptions {
        PeekOptions {
            round: match self.round {
                Some(RoundSel::N(n)) => Some(n),
                _ => None,
            },
            log: self.log,
            events: self.events,
        }
    }
}

/// The (possibly selected) document for these arguments.
pub(super) fn document(cfg: &crate::config::Config, a: &PeekArgs) -> Result<Value, CliError> {
    peek::document(cfg, &a.options(), a.select.as_deref())
        .map_err(|e| CliError::failure(e.to_string()))
}

pub fn run(g: &GlobalArgs, a: &PeekArgs) -> CmdResult {
    let cfg = load_config(g)?;
    let doc = document(&cfg, a)?;
    println!("{}", peek::render(&doc, g.json, a.select.is_some()));
    Ok(exit_code::OK)
}
