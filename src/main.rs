//! The `agent-runner` binary: parse, dispatch, map the outcome to an exit code.

fn main() {
    std::process::exit(agent_runner::commands::run());
}
