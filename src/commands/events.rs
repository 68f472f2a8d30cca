//! `agent-runner events --kind K[,K2] [--window N | --tail] [--since CURSOR|TS]`:
//! matching events printed verbatim, or followed.

use super::peek::parse_positive;
use super::{CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::observe::events::{self, EventsError, EventsQuery};
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Event kinds to show, comma-separated (OR).
    #[arg(long, value_name = "K[,K2,...]")]
    pub kind: String,
    /// Show the last N matching events (default 10).
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub window: Option<usize>,
    /// Follow: print matching events as they are appended (Ctrl-C ends).
    #[arg(long)]
    pub tail: bool,
    /// Replay from a cursor (`events-2026-11.jsonl:12345`) or an ISO-8601 time.
    #[arg(long, value_name = "CURSOR|TS")]
    pub since: Option<String>,
}

pub fn run(g: &GlobalArgs, a: &EventsArgs) -> CmdResult {
    let q = EventsQuery {
        kind: a.kind.clone(),
        window: a.window,
        tail: a.tail,
        since: a.since.clone(),
    };
    // A bad query is reported before the config is read.
    events::validate(&q).map_err(error)?;
    let cfg = super::load_config(g)?;
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    events::run(&cfg.runtime.log_dir, &q, &mut lock).map_err(error)?;
    Ok(exit_code::OK)
}

fn error(e: EventsError) -> CliError {
    match e {
        EventsError::Query(_) => CliError::usage(e.to_string()),
        EventsError::Unreadable(_) => CliError::failure(e.to_string()),
    }
}
