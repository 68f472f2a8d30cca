//! `agent-runner stop`: graceful; the current round finishes first.

use super::{load_config, print_json_or, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service::{self, StopResult};
use serde_json::json;

pub fn run(g: &GlobalArgs) -> CmdResult {
    let cfg = load_config(g)?;
    let r = stop(&cfg, g)?;
    match r {
        StopResult::Systemd { mode } => print_json_or(
            g,
            &json!({"mode": mode.as_str(), "stopped": true}),
            "stopped via systemd",
        ),
        StopResult::NotRunning { mode } => print_json_or(
            g,
            &json!({"mode": mode.as_str(), "stopped": false, "reason": "not running"}),
            "serve is not running",
        ),
        StopResult::PidFile { pid, elapsed_s } => print_json_or(
            g,
            &json!({"mode": "pidfile", "stopped": true, "pid": pid, "elapsed_s": elapsed_s}),
            &format!("stopped ({elapsed_s:.1}s)"),
        ),
    }
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
