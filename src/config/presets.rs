//! The embedded presets (`agent/presets/*.toml`), the prompt scaffold, and `init`.

use crate::cli::{CmdResult, GlobalArgs, InitArgs};

/// `agent-runner init`.
pub fn cmd_init(_g: &GlobalArgs, _a: &InitArgs) -> CmdResult {
    Err(crate::cli::CliError::usage("'init' is not available yet"))
}
