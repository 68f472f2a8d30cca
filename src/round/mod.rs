//! Layer 1, the Round: one agent invocation under hard defenses.

pub mod parsers;
pub mod process;

use crate::cli::{CmdResult, GlobalArgs, RoundArgs};

/// `agent-runner round`.
pub fn cmd_round(_g: &GlobalArgs, _a: &RoundArgs) -> CmdResult {
    Err(crate::cli::CliError::usage("'round' is not available yet"))
}
