//! `events --kind K[,K2] [--window N | --tail] [--since CURSOR|TS]`: the last
//! N matching events, a replay since a cursor or time, or a live follow. Lines
//! are printed verbatim as they are in the file.

use crate::cli::{CliError, CmdResult, GlobalArgs};
use crate::state::reader::{self, EventTail, Since};
use crate::state::wake::Wake;
use clap::Args;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The longest `events --tail` sleeps without a change in the log_dir: the
/// bound on noticing an interrupt (and the poll period without inotify).
const WAKE_AT_LEAST: Duration = Duration::from_millis(200);

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expects positive int (> 0), got '{s}'")),
    }
}

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

/// Arguments checked before anything is read (all exit 2).
pub fn validate(a: &EventsArgs) -> Result<(Vec<String>, Option<Since>), CliError> {
    let kinds: Vec<String> = a
        .kind
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if kinds.is_empty() {
        return Err(CliError::usage(
            "--kind requires at least one non-empty event kind",
        ));
    }
    if a.window.is_some() && a.tail {
        return Err(CliError::usage(
            "--window and --tail are mutually exclusive",
        ));
    }
    if a.window.is_some() && a.since.is_some() {
        return Err(CliError::usage(
            "--window and --since are mutually exclusive",
        ));
    }
    let since = match &a.since {
        Some(s) => Some(
            s.parse::<Since>()
                .map_err(|e| CliError::usage(e.to_string()))?,
        ),
        None => None,
    };
    Ok((kinds, since))
}

fn unreadable(e: std::io::Error) -> CliError {
    CliError::failure(format!("events file unreadable: {e}"))
}

/// Run against a log_dir, writing to `out`. Returns when done (one-shot) or
/// when interrupted (`--tail`).
pub fn run(log_dir: &Path, a: &EventsArgs, out: &mut dyn Write) -> CmdResult {
    let (kinds, since) = validate(a)?;
    let kr: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let wanted = |k: &str| kr.contains(&k);
    let mut follow = None;
    if let Some(since) = &since {
        let (lines, tail) = reader::since(log_dir, since).map_err(unreadable)?;
        for l in lines.iter().filter(|l| wanted(l.kind())) {
            writeln!(out, "{}", l.text).map_err(unreadable)?;
        }
        follow = Some(tail);
    } else if !a.tail {
        let n = a.window.unwrap_or(10);
        let r = reader::tail_last_n(log_dir, &kr, n).map_err(unreadable)?;
        for l in &r.lines {
            writeln!(out, "{}", l.text).map_err(unreadable)?;
        }
    }
    if !a.tail {
        return Ok(crate::exit_code::OK);
    }
    out.flush().map_err(unreadable)?;
    crate::signals::install_interrupt();
    let mut tail = follow.unwrap_or_else(|| EventTail::at_end(log_dir));
    // Woken by inotify when the log_dir changes (an append is printed at
    // once); without it (or to notice an interrupt) every WAKE_AT_LEAST.
    let mut wake = Wake::new(log_dir);
    if wake.is_notified() {
        tail.keep_listing();
    }
    loop {
        let lines = tail.poll().map_err(unreadable)?;
        for l in lines.iter().filter(|l| wanted(l.kind())) {
            writeln!(out, "{}", l.text).map_err(unreadable)?;
        }
        out.flush().map_err(unreadable)?;
        if crate::signals::interrupted() {
            return Ok(crate::exit_code::OK);
        }
        // True when polling, or when files appeared: list the shards again.
        if wake.wait(WAKE_AT_LEAST) {
            tail.relist();
        }
        if crate::signals::interrupted() {
            return Ok(crate::exit_code::OK);
        }
        // The log_dir may exist by now (serve had not started yet).
        if wake.rewatch(log_dir) {
            tail.keep_listing();
        }
    }
}

/// `events`.
pub fn cmd_events(g: &GlobalArgs, a: &EventsArgs) -> CmdResult {
    validate(a)?;
    let cfg = crate::config::load(&g.config)?;
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    run(&cfg.runtime.log_dir, a, &mut lock)
}
