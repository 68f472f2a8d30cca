//! `agent-runner start`: the service, through systemd or as a detached serve.

use super::{load_config, print_json_or, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service::{self, Started};
use serde_json::json;

pub fn run(g: &GlobalArgs) -> CmdResult {
    let cfg = load_config(g)?;
    start(&cfg, g)
}

/// Start and report (also the second half of `restart`).
pub(super) fn start(cfg: &crate::config::Config, g: &GlobalArgs) -> CmdResult {
    match service::start(cfg).map_err(|e| CliError::failure(e.to_string()))? {
        Started::Systemd { mode, unit } => print_json_or(
            g,
            &json!({"mode": mode.as_str(), "started": true}),
            &format!("started {unit} via systemd"),
        ),
        Started::PidFile { pid, log_dir } => print_json_or(
            g,
            &json!({"mode": "pidfile", "started": true, "pid": pid}),
            &format!(
                "started serve in the background (pid {pid}); logs in {}",
                log_dir.display()
            ),
        ),
    }
    Ok(exit_code::OK)
}
