//! `watch`: clear the screen, draw peek, sleep, repeat. Ctrl-C ends it with 0.

use super::peek::{self, PeekArgs};
use crate::cli::{CmdResult, GlobalArgs};
use clap::Args;
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub peek: PeekArgs,
    /// Seconds between redraws.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    pub interval: f64,
}

/// `watch`.
pub fn cmd_watch(g: &GlobalArgs, a: &WatchArgs) -> CmdResult {
    let cfg = crate::config::load(&g.config)?;
    crate::signals::install_interrupt();
    let interval = Duration::from_secs_f64(a.interval.clamp(0.1, 86_400.0));
    loop {
        let doc = peek::document(&cfg, &a.peek)?;
        let body = peek::render(&doc, g.json, a.peek.select.is_some());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\x1b[2J\x1b[H{body}");
        let _ = out.flush();
        drop(out);
        if !crate::signals::sleep_unless_interrupted(interval) {
            return Ok(crate::exit_code::OK);
        }
    }
}
