//! `agent-runner kill`: SIGTERM, grace, SIGKILL to serve, the round and the agent.
//! `--json` prints the status record as upstream does after a kill (the mode
//! it was in, `active: false`, `pid` the serve it killed) plus `killed`,
//! `serve_pid` and `round_pid`.

use super::{load_config, print_json_or, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service;
use serde_json::json;

pub fn run(g: &GlobalArgs) -> CmdResult {
    let cfg = load_config(g)?;
    let mode = service::mode(&cfg);
    let k = service::kill_all(&cfg).map_err(|e| CliError::failure(e.to_string()))?;
    let extra = json!({"killed": k.count, "serve_pid": k.serve_pid, "round_pid": k.round_pid});
    let doc = if g.json {
        let over = match k.serve_pid {
            Some(pid) => json!({"mode": mode.as_str(), "active": false, "pid": pid}),
            None => json!({}),
        };
        super::status::document(&cfg, &over, &extra)?
    } else {
        extra
    };
    print_json_or(
        g,
        &doc,
        &format!(
            "killed {} process(es) of project '{}'",
            k.count, cfg.project
        ),
    );
    Ok(exit_code::OK)
}
