//! The command line: one clap definition per verb, dispatch, and the mapping
//! of errors to `agent-runner: <what went wrong> (<what to do>)` plus an exit
//! code from [`crate::exit_code`].

use crate::exit_code;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Restart-on-exit supervisor for autonomous coding CLIs, with a native-SSH witness.
#[derive(Debug, Parser)]
#[command(name = "agent-runner", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub verb: Option<Verb>,
}

/// Options accepted before or after the verb.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Path of the project config.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "agent-runner.toml"
    )]
    pub config: PathBuf,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Scaffold agent-runner project files (config, prompt, .gitignore).
    Init(InitArgs),
    /// Run one round of the agent under every defense, then exit.
    Round(RoundArgs),
    /// Long-running supervisor loop: round after round until a stop condition.
    Serve(ServeArgs),
    /// Run the main job on an embedded demo agent in a scratch project.
    Demo(DemoArgs),
    /// Generate systemd units for serve (and the monitor), enable and start.
    Install(InstallArgs),
    /// Stop, disable and remove the systemd units.
    Uninstall(UninstallArgs),
    /// Start the service (systemd, or a detached serve with a pid file).
    Start(NoArgs),
    /// Graceful stop: the current round finishes first.
    Stop(NoArgs),
    /// Force-terminate serve, the round and the agent's process group.
    Kill(NoArgs),
    /// End the current round now but keep the loop running.
    Cancel(NoArgs),
    /// Stop then start (--force: kill then start).
    Restart(RestartArgs),
    /// Show the service state.
    Status(NoArgs),
    /// Show the project state, with optional drill-down.
    Peek(crate::observe::peek::PeekArgs),
    /// Watch the project state, redrawn every few seconds.
    Watch(crate::observe::watch::WatchArgs),
    /// Query or stream events by kind.
    Events(crate::observe::events::EventsArgs),
    /// Anomaly detection, narration, event stream or HTTP page; local or over SSH.
    Monitor(crate::witness::monitor::MonitorArgs),
    /// Remote end of the witness: stream state as JSON frames.
    Probe(crate::fleet::probe::ProbeArgs),
    /// Pre-flight checks, locally or of a remote host over SSH.
    Doctor(DoctorArgs),
    /// Print the SSH settings resolved for a host, like `ssh -G`.
    #[command(name = "ssh-config")]
    SshConfig(SshConfigArgs),
    /// Copy this binary (or the matching one) to a remote host over SSH.
    Deploy(crate::deploy::DeployArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Preset to scaffold from.
    #[arg(long, default_value = "claude")]
    pub preset: String,
    /// Overwrite an existing agent-runner.toml / prompt.
    #[arg(long)]
    pub force: bool,
    /// Commit the files written (default).
    #[arg(long, conflicts_with = "no_commit")]
    pub commit: bool,
    /// Do not commit.
    #[arg(long)]
    pub no_commit: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RoundArgs {
    /// Run this phase instead of the rotation's.
    #[arg(long)]
    pub phase: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Run one round, then exit.
    #[arg(long)]
    pub once: bool,
    /// Stop after N rounds (overrides runtime.max_rounds).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rounds: Option<u64>,
    /// Run rounds regardless of [schedule] pause/run windows (testing / catch-up).
    #[arg(long)]
    pub ignore_schedule: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Project directory to create (default: a fresh temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Upper bound on rounds (the demo agent asks to stop after its fourth).
    #[arg(long, default_value_t = 5)]
    pub rounds: u64,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Check one SSH host: resolve, connect, host key, auth, remote agent-runner.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// ssh_config file to read instead of ~/.ssh/config (env AGENT_RUNNER_SSH_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Also install the local monitor unit.
    #[arg(long)]
    pub monitor: bool,
    /// System units in /etc/systemd/system (User= from SUDO_USER) instead of user units.
    #[arg(long)]
    pub system: bool,
    /// Print the units and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also install a fleet monitor unit for this hosts file.
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
    /// Overwrite a unit that belongs to another project.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    /// Remove system units instead of user units.
    #[arg(long)]
    pub system: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RestartArgs {
    /// Kill instead of a graceful stop.
    #[arg(long)]
    pub force: bool,
}

/// A verb without options of its own.
#[derive(Debug, Clone, Args)]
pub struct NoArgs {}

#[derive(Debug, Clone, Args)]
pub struct SshConfigArgs {
    /// Host alias to resolve (as you would give it to ssh).
    pub host: String,
    /// Read only this ssh config file, like `ssh -F` (default: ~/.ssh/config
    /// then /etc/ssh/ssh_config; env AGENT_RUNNER_SSH_CONFIG).
    #[arg(long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

/// Arguments of a verb that is not available yet (accepted, then refused).
#[derive(Debug, Clone, Args)]
pub struct PassThrough {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

/// A failure to report: one line on stderr and an exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(exit_code::FAILURE, message)
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(exit_code::USAGE, message)
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        CliError::usage(e.to_string())
    }
}

pub type CmdResult = Result<i32, CliError>;

fn not_yet(verb: &str) -> CmdResult {
    Err(CliError::usage(format!(
        "'{verb}' is not available yet in this version (see the README for what is)"
    )))
}

/// Parse the process arguments, run, return the exit code.
pub fn run() -> i32 {
    init_tracing();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit_code::OK
                }
                _ => exit_code::USAGE,
            };
            let _ = e.print();
            return code;
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("agent-runner: {}", e.message);
            e.code
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn dispatch(cli: Cli) -> CmdResult {
    let g = cli.global;
    let Some(verb) = cli.verb else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return Ok(exit_code::FAILURE);
    };
    match verb {
        Verb::Init(a) => crate::config::presets::cmd_init(&g, &a),
        Verb::Round(a) => crate::round::cmd_round(&g, &a),
        Verb::Serve(a) => crate::serve::cmd_serve(&g, &a),
        Verb::Demo(a) => crate::demo::cmd_demo(&g, &a),
        Verb::Install(a) => crate::service::systemd::cmd_install(&g, &a),
        Verb::Uninstall(a) => crate::service::systemd::cmd_uninstall(&g, a.system),
        Verb::Start(_) => crate::service::cmd_start(&g),
        Verb::Stop(_) => crate::service::cmd_stop(&g),
        Verb::Kill(_) => crate::service::cmd_kill(&g),
        Verb::Cancel(_) => crate::service::cmd_cancel(&g),
        Verb::Restart(a) => crate::service::cmd_restart(&g, a.force),
        Verb::Status(_) => crate::service::cmd_status(&g),
        Verb::Peek(a) => crate::observe::peek::cmd_peek(&g, &a),
        Verb::Watch(a) => crate::observe::watch::cmd_watch(&g, &a),
        Verb::Events(a) => crate::observe::events::cmd_events(&g, &a),
        Verb::Monitor(a) => crate::witness::monitor::cmd_monitor(&g, &a),
        Verb::Probe(a) => crate::fleet::probe::cmd_probe(&g, &a),
        Verb::Doctor(a) => match &a.host {
            Some(h) => crate::ssh::doctor::cmd(h, a.ssh_config.as_deref(), g.json)
                .map_err(CliError::failure),
            None => not_yet("doctor (without --host)"),
        },
        Verb::SshConfig(a) => crate::ssh::config::cmd_ssh_config(&a),
        Verb::Deploy(a) => crate::deploy::cmd_deploy(&g, &a),
    }
}
