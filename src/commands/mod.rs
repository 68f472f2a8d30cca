//! The edge: the command line. One file per verb owns its clap arguments, calls
//! one layer function, prints the outcome and maps it to an exit code from
//! [`crate::exit_code`]. Errors are printed as
//! `agent-runner: <what went wrong> (<what to do>)`.
//!
//! This is the only module that knows clap, prints a verb's result or picks a
//! process exit code; nothing below imports it (docs/architecture.md).

mod cancel;
mod completions;
mod demo;
mod deploy;
mod doctor;
mod events;
mod init;
mod install;
mod kill;
mod man;
mod migrate;
mod monitor;
mod peek;
mod probe;
mod restart;
mod round;
mod serve;
mod ssh_config;
mod start;
mod status;
mod stop;
mod uninstall;
mod version;
mod watch;

use crate::exit_code;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Restart-on-exit supervisor for autonomous coding CLIs, with a native-SSH witness.
#[derive(Debug, Parser)]
#[command(name = "agent-runner", version, long_version = version::long_version(), about, long_about = None, propagate_version = true)]
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
    Init(init::InitArgs),
    /// Run one round of the agent under every defense, then exit.
    Round(round::RoundArgs),
    /// Long-running supervisor loop: round after round until a stop condition.
    Serve(serve::ServeArgs),
    /// Run the main job on an embedded demo agent in a scratch project.
    Demo(demo::DemoArgs),
    /// Generate systemd units for serve (and the monitor), enable and start.
    Install(install::InstallArgs),
    /// Stop, disable and remove the systemd units.
    Uninstall(uninstall::UninstallArgs),
    /// Start the service (systemd, or a detached serve with a pid file).
    Start(NoArgs),
    /// Graceful stop: the current round finishes first.
    Stop(NoArgs),
    /// Force-terminate serve, the round and the agent's process group.
    Kill(NoArgs),
    /// End the current round now but keep the loop running.
    Cancel(NoArgs),
    /// Stop then start (--force: kill then start).
    Restart(restart::RestartArgs),
    /// Show the service state.
    Status(NoArgs),
    /// Show the project state, with optional drill-down.
    Peek(peek::PeekArgs),
    /// Watch the project state, redrawn every few seconds.
    Watch(watch::WatchArgs),
    /// Query or stream events by kind.
    Events(events::EventsArgs),
    /// Anomaly detection, narration, event stream or HTTP page; local or over SSH.
    Monitor(monitor::MonitorArgs),
    /// Remote end of the witness: stream state as JSON frames.
    Probe(probe::ProbeArgs),
    /// Pre-flight checks, locally or of a remote host over SSH.
    Doctor(doctor::DoctorArgs),
    /// Rewrite a 0.2-era agent-runner.toml into the 0.3 shape (keeps a backup).
    Migrate(migrate::MigrateArgs),
    /// Print the SSH settings resolved for a host, like `ssh -G`.
    #[command(name = "ssh-config")]
    SshConfig(ssh_config::SshConfigArgs),
    /// Copy this binary (or the matching one) to a remote host over SSH.
    Deploy(deploy::DeployArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff), or write every page with --dir.
    Man(man::ManArgs),
}

/// A verb without options of its own.
#[derive(Debug, Clone, Args)]
pub struct NoArgs {}

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

/// A config that does not load, for every verb but `round` and `serve`: 78
/// (the 0.3 contract: a broken config is EX_CONFIG whatever the verb), or 1
/// when there is no config file at all (as the Python tool's `peek`,
/// `events`, `monitor` and `install` say it).
impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        let code = match e {
            crate::config::ConfigError::NotFound(_) => exit_code::FAILURE,
            _ => exit_code::CONFIG_BROKEN,
        };
        CliError::new(code, e.to_string())
    }
}

/// A config error as `round` and `serve` report it: always 78 (a missing
/// file too), so systemd does not restart a service whose config is broken.
pub(crate) fn config_broken(e: crate::config::ConfigError) -> CliError {
    CliError::new(exit_code::CONFIG_BROKEN, e.to_string())
}

/// What a verb returns: its exit code, or an error to print.
pub type CmdResult = Result<i32, CliError>;

/// Load the project config named by `--config`.
pub(crate) fn load_config(g: &GlobalArgs) -> Result<crate::config::Config, CliError> {
    Ok(crate::config::load(&g.config)?)
}

/// Print `v` as indented JSON with `--json`, else `text`.
pub(crate) fn print_json_or(g: &GlobalArgs, v: &serde_json::Value, text: &str) {
    if g.json {
        println!("{}", crate::state::pyjson::to_pretty(v));
    } else {
        println!("{text}");
    }
}

/// Write `bytes` to stdout; a closed pipe (`| head`) is not a failure.
pub(crate) fn write_stdout(bytes: &[u8]) -> CmdResult {
    use std::io::Write;
    let mut so = std::io::stdout().lock();
    match so.write_all(bytes).and_then(|_| so.flush()) {
        Ok(()) => Ok(exit_code::OK),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit_code::OK),
        Err(e) => Err(CliError::failure(format!("cannot write to stdout: {e}"))),
    }
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
        Verb::Init(a) => init::run(&g, &a),
        Verb::Round(a) => round::run(&g, &a),
        Verb::Serve(a) => serve::run(&g, &a),
        Verb::Demo(a) => demo::run(&g, &a),
        Verb::Install(a) => install::run(&g, &a),
        Verb::Uninstall(a) => uninstall::run(&g, &a),
        Verb::Start(_) => start::run(&g),
        Verb::Stop(_) => stop::run(&g),
        Verb::Kill(_) => kill::run(&g),
        Verb::Cancel(_) => cancel::run(&g),
        Verb::Restart(a) => restart::run(&g, &a),
        Verb::Status(_) => status::run(&g),
        Verb::Peek(a) => peek::run(&g, &a),
        Verb::Watch(a) => watch::run(&g, &a),
        Verb::Events(a) => events::run(&g, &a),
        Verb::Monitor(a) => monitor::run(&g, &a),
        Verb::Probe(a) => probe::run(&g, &a),
        Verb::Doctor(a) => doctor::run(&g, &a),
        Verb::Migrate(a) => migrate::run(&g, &a),
        Verb::SshConfig(a) => ssh_config::run(&a),
        Verb::Deploy(a) => deploy::run(&g, &a),
        Verb::Completions(a) => completions::run(&a),
        Verb::Man(a) => man::run(&a),
    }
}
