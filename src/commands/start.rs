//! `agent-runner start`: the service, through systemd or as a detached serve.
//! `--json` prints the status record after the start (upstream's keys) plus
//! `started` (and the new serve's `pid`).

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
    let started = service::start(cfg).map_err(|e| CliError::failure(e.to_string()))?;
    let (extra, text) = match started {
        Started::Systemd { unit, .. } => (
            json!({"started": true}),
            format!("started {unit} via systemd"),
        ),
        Started::PidFile { pid, log_dir } => (
            json!({"started": true, "pid": pid}),
            format!(
                "started serve in the background (pid {pid}); logs in {}",
                log_dir.display()
            ),
        ),
    };
    let doc = if g.json {
        super::status::document(cfg, &json!({}), &extra)?
    } else {
        extra
    };
    print_json_or(g, &doc, &text);
    Ok(exit_code::OK)
}
