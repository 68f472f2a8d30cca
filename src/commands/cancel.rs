//! `agent-runner cancel`: end the current round now; the loop goes on.

use super::{load_config, print_json_or, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service;
use serde_json::json;

pub fn run(g: &GlobalArgs) -> CmdResult {
    let cfg = load_config(g)?;
    let pid = service::cancel(&cfg).map_err(|e| CliError::failure(e.to_string()))?;
    print_json_or(
        g,
        &json!({"cancelled": true, "round_pid": pid}),
        &format!("cancelled the current round (round pid {pid}); the loop goes on"),
    );
    Ok(exit_code::OK)
}
