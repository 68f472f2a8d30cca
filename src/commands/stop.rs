//! `agent-runner stop`: graceful; the current round finishes first.
//! `--json` prints the status record after the stop (upstream's keys, `pid`
//! the serve that was stopped) plus `stopped` and, for a pid-file serve,
//! `elapsed_s`.

use super::{load_config, print_json_or, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service::{self, StopResult};
use serde_json::json;

pub fn run(g: &GlobalArgs) -> CmdResult {
    let cfg = load_config(g)?;
    let r = stop(&cfg, g)?;
    let (over, extra, text) = match r {
        StopResult::Systemd { .. } => (
            json!({}),
            json!({"stopped": true}),
            "stopped via systemd".to_string(),
        ),
        StopResult::NotRunning { .. } => (
            json!({}),
            json!({"stopped": false, "reason": "not running"}),
            "serve is not running".to_string(),
        ),
        StopResult::PidFile { pid, elapsed_s } => (
            json!({"pid": pid}),
            json!({"stopped": true, "elapsed_s": elapsed_s}),
            format!("stopped ({elapsed_s:.1}s)"),
        ),
    };
    let doc = if g.json {
        super::status::document(&cfg, &over, &extra)?
    } else {
        extra
    };
    print_json_or(g, &doc, &text);
    Ok(exit_code::OK)
}

/// Stop, telling the user on stderr that a pid-file serve finishes its round
/// first (also the first half of `restart`).
pub(super) fn stop(cfg: &crate::config::Config, g: &GlobalArgs) -> Result<StopResult, CliError> {
    let json = g.json;
    let mut stopping = |pid: i32| {
        if !json {
            eprintln!(
                "agent-runner: stopping serve (pid {pid}) — the current round finishes first..."
            );
        }
    };
    service::stop(cfg, &mut stopping).map_err(|e| CliError::failure(e.to_string()))
}
