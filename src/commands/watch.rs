//! `agent-runner watch`: clear the screen, draw peek, sleep, repeat. Ctrl-C
//! ends it with 0.

use super::peek::PeekArgs;
use super::{load_config, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::observe::peek;
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

pub fn run(g: &GlobalArgs, a: &WatchArgs) -> CmdResult {
    let cfg = load_config(g)?;
    crate::sys::signals::install_interrupt();
    let interval = Duration::from_secs_f64(a.interval.clamp(0.1, 86_400.0));
    loop {
        let doc = super::peek::document(&cfg, &a.peek)?;
        let body = peek::render(&doc, g.json, a.peek.select.is_some());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\x1b[2J\x1b[H{body}");
        let _ = out.flush();
        drop(out);
        if !crate::sys::signals::sleep_unless_interrupted(interval) {
            return Ok(exit_code::OK);
        }
    }
}
