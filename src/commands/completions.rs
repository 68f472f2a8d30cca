//! `agent-runner completions SHELL`: the shell completion script, generated
//! from the same clap definitions that parse the command line (so a flag
//! cannot be completed that is not accepted, nor the reverse).

use super::{write_stdout, Cli, CmdResult};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

const BIN: &str = "agent-runner";

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for. Install it with, e.g.,
    /// `agent-runner completions bash > ~/.local/share/bash-completion/completions/agent-runner`,
    /// `agent-runner completions zsh > "${fpath[1]}/_agent-runner"` or
    /// `agent-runner completions fish > ~/.config/fish/completions/agent-runner.fish`.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

pub fn run(a: &CompletionsArgs) -> CmdResult {
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), BIN, &mut script);
    if a.shell == Shell::Bash {
        script = fix_bash_state_labels(&String::from_utf8_lossy(&script)).into_bytes();
    }
    write_stdout(&script)
}

/// clap_complete (4.6.12) spells the state of a verb two ways in bash when
/// the program name has a hyphen: the loop sets `agent__runner__subcmd__deploy`,
/// the case arm waits for `agent__subcmd__runner__subcmd__deploy`, so no
/// verb's options ever complete (clap-rs/clap#6421). Spell the arms as the
/// loop does; a no-op once clap_complete is fixed. tests/it/cli_docs.rs
/// completes `agent-runner deploy --rem` through bash.
fn fix_bash_state_labels(script: &str) -> String {
    let sep = "__subcmd__";
    let wrong = format!("{}{sep}", BIN.replace('-', sep));
    let right = format!("{}{sep}", BIN.replace('-', "__"));
    script.replace(&wrong, &right)
}
