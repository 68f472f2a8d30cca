//! The round side of cross-round session resume (0.3 delta §3.8): serve
//! publishes `[flag, id]` in two env vars and the round appends them after
//! the agent's command. Without both (standalone `round`, systemd) the agent
//! starts cold.

/// The env var naming the flag the round appends after `command`.
pub const FLAG_VAR: &str = "AGENT_RUNNER_RESUME_FLAG";
/// The env var carrying the session id that follows the flag.
pub const ID_VAR: &str = "AGENT_RUNNER_RESUME_SESSION_ID";

/// `[flag, id]` when both variables are set and non-empty, else nothing.
pub fn resume_args() -> Vec<String> {
    match (std::env::var(FLAG_VAR), std::env::var(ID_VAR)) {
        (Ok(f), Ok(id)) if !f.is_empty() && !id.is_empty() => vec![f, id],
        _ => Vec::new(),
    }
}
