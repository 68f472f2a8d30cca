//! The `agent-runner.toml` schema (0.2 and 0.3 field names), its defaults, and
//! loading with strict validation. Loading lives in `load`, the embedded
//! presets and `init` scaffold in `presets`, every key with its type,
//! default, effect and test in `table`.
//!
//! This module owns what a config *means*; it never runs anything.

pub mod load;
pub mod migrate;
pub mod overlap;
pub mod presets;
pub mod schedule;
pub mod table;

use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use load::{absolute_config_path, from_str, load, ConfigError};
pub use presets::scaffold_paths;

/// The current `schema_version` (0.3.x configs carry `schema_version = 1`).
pub const SCHEMA_VERSION: i64 = 1;

/// The default `[agent] terminal_marker` (claude's stream-json result record).
pub const DEFAULT_TERMINAL_MARKER: &str = r#""type":"result""#;

/// The default `[monitor] auth_fail_patterns` entry.
pub const DEFAULT_AUTH_FAIL_PATTERN: &str = r"\b(oauth|unauthorized|401|api[_ ]key|auth(entication)?[_ -]?(failed|error|expired)|session.*expired)\b";

/// A fully loaded, validated config. Paths are absolute.
#[derive(Debug, Clone)]
pub struct Config {
    /// Absolute path of the file this was loaded from.
    pub path: PathBuf,
    /// `schema_version` as written (None for a 0.2-style file).
    pub schema_version: Option<i64>,
    /// Project name: basename of `work_dir` (or `default`).
    pub project: String,
    pub agent: AgentConfig,
    pub runtime: RuntimeConfig,
    pub prompt: PromptConfig,
    pub vcs: VcsConfig,
    pub monitor: MonitorConfig,
    pub phases: PhasesConfig,
    pub plugins: PluginsConfig,
    pub schedule: ScheduleConfig,
    /// `[goal]` (0.3.12+): its checks run after each round's agent; the
    /// treadmill writes advisories to its ledger (`round::goal`).
    pub goal: Option<GoalConfig>,
}

/// `[goal]`: objective checks and the lessons ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalConfig {
    /// Absolute path of the ledger (one of the prompt files, index >= 1).
    pub ledger: PathBuf,
    pub checks: Vec<GoalCheck>,
}

impl GoalConfig {
    /// What the checks may add to a round: each check's `timeout_s` plus 6 s
    /// (its SIGTERM grace and its output drain, 3 s each). Added to serve's
    /// outer ceiling and to the unit's `TimeoutStopSec`.
    pub fn allowance_s(&self) -> u64 {
        self.checks.iter().map(|c| c.timeout_s + 6).sum()
    }
}

/// One `[[goal.checks]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalCheck {
    pub name: String,
    pub cmd: Vec<String>,
    /// As written; resolved against `work_dir` by the runner.
    pub cwd: Option<String>,
    /// 1..=30, default 10.
    pub timeout_s: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PromptDelivery {
    #[default]
    Argv,
    Stdin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub command: Vec<String>,
    pub prompt_arg_template: Vec<String>,
    pub prompt_delivery: PromptDelivery,
    pub name: Option<String>,
    /// `[agent.env]`, in file order.
    pub env: Vec<(String, String)>,
    /// 0.3: argv spliced in front of `command` (`{work_dir}` substituted).
    pub exec_prefix: Vec<String>,
    /// 0.3: substring that marks "the agent delivered its result" for the
    /// grace-after-result kill; empty disables the scan.
    pub terminal_marker: String,
    /// 0.3: grace after a cooperative stop signal (1..=12).
    pub sigterm_grace_s: u64,
}

impl AgentConfig {
    /// basename of `command[0]`: the identity used by parsers and throttles.
    pub fn binary_name(&self) -> String {
        self.command
            .first()
            .map(|c| {
                Path::new(c)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| c.clone())
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransientErrorAction {
    #[default]
    BackOff,
    Skip,
    Stop,
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub work_dir: PathBuf,
    pub log_dir: PathBuf,
    /// `round_budget_s` (0.3) ≡ `round_timeout_s` (0.2). Default 1800.
    pub round_budget_s: u64,
    /// Default 3. 0 is accepted (no delay), unlike upstream.
    pub restart_delay_s: u64,
    /// 0 = never prune (0.3 default).
    pub round_log_retention: u64,
    pub narrative_file: Option<PathBuf>,
    pub transient_error_action: TransientErrorAction,
    pub max_rounds: Option<u64>,
    pub stop_file: Option<PathBuf>,
    pub substrate_fingerprint_paths: Vec<String>,
    pub fresh_eyes_every_n: Option<u64>,
    pub dry_run: bool,
    pub max_grace_after_result_s: u64,
    pub grace_kill_ignore_patterns: Vec<Regex>,
    /// Seconds between periodic metrics samples taken by `serve` (ours; 0 = off).
    pub metrics_interval_s: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextMode {
    #[default]
    Prepend,
    File,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PromptConfig {
    pub file: Option<PathBuf>,
    pub files: Vec<PathBuf>,
    pub inject_context: bool,
    pub context_injection_mode: ContextMode,
    pub concat_separator: String,
    pub strip_yaml_frontmatter: bool,
}

impl PromptConfig {
    /// The global prompt file list: `files` if non-empty, else `[file]`.
    pub fn global_files(&self) -> Vec<PathBuf> {
        if !self.files.is_empty() {
            self.files.clone()
        } else {
            self.file.iter().cloned().collect()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirtyAction {
    #[default]
    Stash,
    Ignore,
    AutoCommit,
}

impl DirtyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DirtyAction::Stash => "stash",
            DirtyAction::Ignore => "ignore",
            DirtyAction::AutoCommit => "auto_commit",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcsConfig {
    pub dirty_action: DirtyAction,
    pub stash_idempotency_s: u64,
}

#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub auth_fail_patterns: Vec<Regex>,
    pub auth_fail_hint: String,
    pub auto_stop_on: Vec<String>,
    pub remote_failure_tolerance_s: u64,
    pub anomaly_repetitive_window: u64,
    pub anomaly_repetitive_threshold: u64,
    pub round_progress_interval_s: u64,
    /// None → `round_budget_s * 1.5`; Some(0) disables the detector.
    pub supervisor_stale_threshold_s: Option<u64>,
    pub host_health: HostHealth,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostHealth {
    pub memory: MemoryHealth,
    pub disk: DiskHealth,
    pub pressure: PressureHealth,
    pub brake: BrakeHealth,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemoryHealth {
    pub avail_min_mb: u64,
    pub free_low_mb: u64,
    pub swap_out_noise_floor_mb: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiskHealth {
    pub warning_pct: f64,
    pub critical_pct: f64,
    pub growth_window_s: u64,
    pub disk_growth_pct_per_hr_warning: f64,
    pub inode_growth_pct_per_hr_warning: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PressureHealth {
    pub full_avg10_critical: f64,
    pub some_avg10_warning: f64,
    pub critical_consecutive_samples: u64,
    pub in_round_terminate: bool,
    pub cgroup_growth_rate_warning_mb_per_min: f64,
    pub in_round_nudge: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BrakeHealth {
    pub memory_high: bool,
    pub memory_high_step_pct: u64,
    pub warning_consecutive_samples: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PhasePolicy {
    #[default]
    Wait,
    Skip,
}

#[derive(Debug, Clone, Default)]
pub struct PhasesConfig {
    pub list: Vec<String>,
    pub phase_policy: PhasePolicy,
    pub overrides: BTreeMap<String, PhaseOverride>,
}

/// `[phases.<name>]`: what a phase changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseOverride {
    pub round_budget_s: Option<u64>,
    /// `prompt.files` for this phase (may be empty: "no prompt").
    pub prompt_files: Option<Vec<PathBuf>>,
    /// `[phases.<n>.agent]` merged field by field onto the base `[agent]`.
    pub agent: Option<AgentConfig>,
    /// `[phases.<n>.schedule]`: replaces the global windows (inherits the
    /// global timezone when it sets none).
    pub schedule: Option<ScheduleConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginsConfig {
    pub disable: Vec<String>,
}

/// `[schedule]` (0.3): parsed and validated; enforced by `serve`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleConfig {
    pub timezone: Option<String>,
    pub run_windows: Vec<String>,
    pub pause_windows: Vec<String>,
}

impl Config {
    /// The phase for round `n` (1-based) by rotation, with its index.
    pub fn phase_for_round(&self, n: u64) -> Option<(usize, &str)> {
        if self.phases.list.is_empty() || n == 0 {
            return None;
        }
        let i = ((n - 1) % self.phases.list.len() as u64) as usize;
        Some((i, self.phases.list[i].as_str()))
    }

    /// Effective round budget for a phase.
    pub fn budget_for(&self, phase: Option<&str>) -> u64 {
        phase
            .and_then(|p| self.phases.overrides.get(p))
            .and_then(|o| o.round_budget_s)
            .unwrap_or(self.runtime.round_budget_s)
    }

    /// The largest budget over the base and every phase.
    pub fn max_budget(&self) -> u64 {
        self.phases
            .overrides
            .values()
            .filter_map(|o| o.round_budget_s)
            .fold(self.runtime.round_budget_s, u64::max)
    }

    /// Prompt files for a phase: the phase's own list if it has one, else the global list.
    pub fn prompt_files_for(&self, phase: Option<&str>) -> Vec<PathBuf> {
        phase
            .and_then(|p| self.phases.overrides.get(p))
            .and_then(|o| o.prompt_files.clone())
            .unwrap_or_else(|| self.prompt.global_files())
    }

    /// The agent for a phase: the phase's merged `[phases.<n>.agent]` if any, else `[agent]`.
    pub fn agent_for(&self, phase: Option<&str>) -> &AgentConfig {
        phase
            .and_then(|p| self.phases.overrides.get(p))
            .and_then(|o| o.agent.as_ref())
            .unwrap_or(&self.agent)
    }

    /// The schedule for a phase: the phase's own if any, else `[schedule]`.
    pub fn schedule_for(&self, phase: Option<&str>) -> &ScheduleConfig {
        phase
            .and_then(|p| self.phases.overrides.get(p))
            .and_then(|o| o.schedule.as_ref())
            .unwrap_or(&self.schedule)
    }

    /// [`GoalConfig::allowance_s`], 0 without `[goal]`.
    pub fn goal_allowance_s(&self) -> u64 {
        self.goal.as_ref().map_or(0, GoalConfig::allowance_s)
    }

    /// The `supervisor_stale` threshold in seconds (0 = disabled).
    pub fn supervisor_stale_threshold_s(&self) -> u64 {
        self.monitor
            .supervisor_stale_threshold_s
            .unwrap_or((self.runtime.round_budget_s as f64 * 1.5) as u64)
    }
}

/// For tests: the default config at `/nonexistent/p`, and the same with
/// two `[goal]` checks of 10 s (the default) and 4 s.
#[cfg(test)]
pub(crate) fn with_two_goal_checks() -> (Config, Config) {
    let dir = Path::new("/nonexistent/p");
    let plain = default_config(dir, &dir.join("logs")).unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "schema_version = 1\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\
         [runtime]\nwork_dir = \"{d}\"\nlog_dir = \"{d}/logs\"\n[prompt]\nfiles = [\"a.md\", \"logs/l.md\"]\n\
         [goal]\nledger = \"logs/l.md\"\n[[goal.checks]]\nname = \"a\"\ncmd = [\"true\"]\n\
         [[goal.checks]]\nname = \"b\"\ncmd = [\"true\"]\ntimeout_s = 4\n",
        d = dir.display()
    );
    let goal = from_str(&dir.join("agent-runner.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    (plain, goal)
}

/// A config with the defaults for every field, rooted at `work_dir` and
/// logging to `log_dir` (through the real loader, so defaults never drift).
/// For a bare log_dir (`probe --log-dir`), tests and benchmarks; real runs
/// load `agent-runner.toml` with [`load`]. Relative paths are taken from the
/// current directory (the loader would resolve them again from `work_dir`).
pub fn default_config(work_dir: &Path, log_dir: &Path) -> Result<Config, ConfigError> {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (work_dir, log_dir) = (&abs(work_dir), &abs(log_dir));
    let q = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    let text = format!(
        "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = {}\nlog_dir = {}\n\n[prompt]\nfile = \"prompts/main.md\"\n",
        q(work_dir),
        q(log_dir)
    );
    from_str(&work_dir.join("agent-runner.toml"), &text)
}
