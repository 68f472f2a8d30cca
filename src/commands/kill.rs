//! `agent-runner kill`: SIGTERM, grace, SIGKILL to serve, the round and the agent.

use super::{load_config, print_json_or, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service;
use serde_json::json;

pub fn run(g: &GlobalArgs) -> CmdResult {
    let cfg = load_config(g)?;
    let k = service::kill_all(&cfg).map_err(|e| CliError::failure(e.to_string()))?;
    print_json_or(
        g,
        &json!({"killed": k.count, "serve_pid": k.serve_pid, "round_pid": k.round_pid}),
        &format!(
            "killed {} process(es) of project '{}'",
            k.count, cfg.project
        ),
    );
    Ok(exit_code::OK)
}
