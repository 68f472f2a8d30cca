//! Loading `agent-runner.toml`: TOML → [`Config`](super::Config) with strict
//! validation and one-line errors naming the file, the key (dotted path) and
//! what is expected.
//!
//! Both the 0.2 names (`round_timeout_s`, flat `[monitor.host_health]` keys,
//! no `schema_version`) and the 0.3 names (`schema_version = 1`,
//! `round_budget_s`, `[monitor.host_health.memory|disk|pressure|brake]`) are
//! accepted; setting one value under both names is an error. Unknown keys
//! are an error everywhere. This module reads one file and never runs
//! anything (no git, no PATH lookups: those are the startup battery's).

use super::schedule::{check_timezone, parse_window};
use super::{
    AgentConfig, BrakeHealth, Config, ContextMode, DirtyAction, DiskHealth, GoalCheck, GoalConfig,
    HostHealth, MemoryHealth, MonitorConfig, PhaseOverride, PhasePolicy, PhasesConfig,
    PluginsConfig, PressureHealth, PromptConfig, PromptDelivery, RuntimeConfig, ScheduleConfig,
    TransientErrorAction, VcsConfig, DEFAULT_AUTH_FAIL_PATTERN, DEFAULT_TERMINAL_MARKER,
    SCHEMA_VERSION,
};
use regex::Regex;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Component, Path, PathBuf};
use toml::{Table, Value};

/// A config that cannot be used. Every variant renders as one line naming
/// the file; `Invalid` also names the key. `round`/`serve` map any of these
/// to exit 78 (`exit_code::CONFIG_BROKEN`), other verbs to 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config not found: {0} (run 'agent-runner init' or pass --config PATH)")]
    NotFound(PathBuf),
    #[error("{path}: cannot read the config: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ConfigError {
    /// The config file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            ConfigError::NotFound(p) => p,
            ConfigError::Unreadable { path, .. } | ConfigError::Invalid { path, .. } => path,
        }
    }
}

type R<T> = Result<T, ConfigError>;

/// Upstream's current config schema version; higher needs a newer binary.
const TOP_KEYS: &[&str] = &[
    "schema_version",
    "agent",
    "runtime",
    "prompt",
    "vcs",
    "monitor",
    "phases",
    "plugins",
    "schedule",
    "goal",
];
const AGENT_KEYS: &[&str] = &[
    "command",
    "prompt_arg_template",
    "prompt_delivery",
    "name",
    "env",
    "exec_prefix",
    "terminal_marker",
    "sigterm_grace_s",
];
const RUNTIME_KEYS: &[&str] = &[
    "work_dir",
    "log_dir",
    "round_budget_s",
    "round_timeout_s",
    "restart_delay_s",
    "disable_pre_round_hooks",
    "round_log_retention",
    "narrative_file",
    "transient_error_action",
    "max_rounds",
    "stop_file",
    "substrate_fingerprint_paths",
    "fresh_eyes_every_n",
    "dry_run",
    "max_grace_after_result_s",
    "grace_kill_ignore_patterns",
    "metrics_interval_s",
];
const PROMPT_KEYS: &[&str] = &[
    "file",
    "files",
    "inject_context",
    "context_injection_mode",
    "concat_separator",
    "strip_yaml_frontmatter",
];
const VCS_KEYS: &[&str] = &["dirty_action", "stash_idempotency_s"];
const MONITOR_KEYS: &[&str] = &[
    "auth_fail_patterns",
    "auth_fail_hint",
    "auto_stop_on",
    "remote_failure_tolerance_s",
    "anomaly_repetitive_window",
    "anomaly_repetitive_threshold",
    "round_progress_interval_s",
    "supervisor_stale_threshold_s",
    "host_health",
];
const PHASE_KEYS: &[&str] = &[
    "round_budget_s",
    "round_timeout_s",
    "disable_pre_round_hooks",
    "prompt",
    "agent",
    "runtime",
    "schedule",
];
const PHASE_RUNTIME_KEYS: &[&str] = &["round_budget_s", "round_timeout_s"];
const SCHEDULE_KEYS: &[&str] = &["timezone", "run_windows", "pause_windows"];
const GOAL_KEYS: &[&str] = &["ledger", "checks"];
const GOAL_CHECK_KEYS: &[&str] = &["name", "cmd", "cwd", "timeout_s"];
const HH_SUBTABLES: &[&str] = &["memory", "disk", "pressure", "brake"];
const HH_MEMORY_KEYS: &[&str] = &["avail_min_mb", "free_low_mb", "swap_out_noise_floor_mb"];
const HH_DISK_KEYS: &[&str] = &[
    "warning_pct",
    "critical_pct",
    "growth_window_s",
    "disk_growth_pct_per_hr_warning",
    "inode_growth_pct_per_hr_warning",
];
const HH_PRESSURE_KEYS: &[&str] = &[
    "full_avg10_critical",
    "some_avg10_warning",
    "critical_consecutive_samples",
    "in_round_terminate",
    "cgroup_growth_rate_warning_mb_per_min",
    "in_round_nudge",
];
const HH_BRAKE_KEYS: &[&str] = &[
    "memory_high",
    "memory_high_step_pct",
    "warning_consecutive_samples",
];
/// The 0.2 flat `[monitor.host_health]` keys and their 0.3 homes.
const HH_FLAT: &[(&str, &str, &str)] = &[
    ("mem_avail_min_mb", "memory", "avail_min_mb"),
    ("mem_free_low_mb", "memory", "free_low_mb"),
    (
        "swap_sout_noise_floor_mb",
        "memory",
        "swap_out_noise_floor_mb",
    ),
    ("disk_warning_pct", "disk", "warning_pct"),
    ("disk_critical_pct", "disk", "critical_pct"),
    ("psi_full_avg10_critical", "pressure", "full_avg10_critical"),
    ("psi_some_avg10_warning", "pressure", "some_avg10_warning"),
    (
        "mem_critical_consecutive_samples",
        "pressure",
        "critical_consecutive_samples",
    ),
    ("in_round_mem_terminate", "pressure", "in_round_terminate"),
];
const SIGTERM_GRACE_MAX: i64 = 12;
const GOAL_CHECK_TIMEOUT_MAX: i64 = 30;
const REMOTE_TOLERANCE_MAX: i64 = 3600;
const BRAKE_STEP_MAX: i64 = 50;

/// Make `path` absolute against the current directory, without resolving
/// symlinks. This is the path `Config::path` carries and errors name.
pub fn absolute_config_path(path: &Path) -> Result<PathBuf, ConfigError> {
    std::path::absolute(path).map_err(|e| ConfigError::Unreadable {
        path: path.to_path_buf(),
        reason: format!("cannot make the path absolute: {e}"),
    })
}

/// Load and validate the config at `path` (relative paths are taken from
/// the current directory). A missing file is [`ConfigError::NotFound`].
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let abs = absolute_config_path(path)?;
    if has_bad_char(&abs.to_string_lossy()) {
        return Err(ConfigError::Invalid {
            path: abs,
            message: "config path: contains a control or non-printable character".into(),
        });
    }
    let meta = match std::fs::metadata(&abs) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound(abs))
        }
        Err(e) => return Err(unreadable(&abs, e)),
    };
    if meta.is_dir() {
        return Err(ConfigError::Unreadable {
            path: abs,
            reason: "it is a directory (pass the path of the agent-runner.toml file)".into(),
        });
    }
    let bytes = std::fs::read(&abs).map_err(|e| unreadable(&abs, e))?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::Unreadable {
        path: abs.clone(),
        reason: "it is not UTF-8 text".into(),
    })?;
    from_str(&abs, &text)
}

fn unreadable(path: &Path, e: std::io::Error) -> ConfigError {
    let reason = match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (check the file's owner and mode)".to_string()
        }
        _ => e.to_string(),
    };
    ConfigError::Unreadable {
        path: path.to_path_buf(),
        reason,
    }
}

/// Parse and validate config `text` as if it were the file at `path`
/// (absolute; relative `work_dir` resolves against its folder).
pub fn from_str(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let l = Loader {
        file: path.to_path_buf(),
    };
    let root: Table = toml::from_str(text).map_err(|e| l.syntax(text, &e))?;
    l.config(&root)
}

struct Loader {
    file: PathBuf,
}

/// `prefix.key`, or `key` at the top level.
fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Boolean(_) => "boolean",
        Value::Datetime(_) => "datetime",
        Value::Array(_) => "array",
        Value::Table(_) => "table",
    }
}

/// `string ("abc")`, `integer (5)`, `array`, … for "got …" in messages.
fn got(v: &Value) -> String {
    let shown = match v {
        Value::String(s) => {
            let mut q = serde_json::Value::String(s.clone()).to_string();
            if q.len() > 80 {
                let mut cut = 76;
                while !q.is_char_boundary(cut) {
                    cut -= 1;
                }
                q.truncate(cut);
                q.push_str("...\"");
            }
            q
        }
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(_) | Value::Table(_) => return type_name(v).to_string(),
    };
    format!("{} ({shown})", type_name(v))
}

fn contains_prompt(args: &[String]) -> bool {
    args.iter().any(|a| a.contains("{prompt}"))
}

/// Control characters and invisible format characters (bidi overrides,
/// zero-width, line/paragraph separators) that must never reach a unit file.
fn has_bad_char(s: &str) -> bool {
    s.chars().any(|c| {
        c.is_control()
            || matches!(c,
                '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}')
    })
}

/// One line from a possibly multi-line regex error.
fn one_line_regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_string))
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn home_dir() -> Option<PathBuf> {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Some(PathBuf::from(h)),
        _ => nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.dir),
    }
}

/// `~` and `~/x` use `$HOME`; `~user/x` uses that user's home. An unknown
/// user or no home leaves the text as is (like Python's `expanduser`).
fn expand_tilde(s: &str) -> PathBuf {
    let Some(rest) = s.strip_prefix('~') else {
        return PathBuf::from(s);
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let home = if user.is_empty() {
        home_dir()
    } else {
        nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.dir)
    };
    match home {
        Some(h) if tail.is_empty() => h,
        Some(h) => h.join(tail),
        None => PathBuf::from(s),
    }
}

/// Like Python's `Path.resolve(strict=False)`: symlinks resolved for the
/// longest existing prefix, `.`/`..` folded lexically in the rest.
pub(crate) fn resolve_lenient(p: &Path) -> PathBuf {
    for anc in p.ancestors() {
        if let Ok(base) = anc.canonicalize() {
            let rest = p.strip_prefix(anc).unwrap_or(Path::new(""));
            let mut out = base;
            for c in rest.components() {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    other => out.push(other.as_os_str()),
                }
            }
            return out;
        }
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn valid_project_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Values read from `[monitor.host_health]`, with the name each was written as.
type HhValues<'a> = BTreeMap<(&'static str, &'static str), (&'a Value, String)>;

impl Loader {
    fn err(&self, key: &str, msg: impl Display) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.clone(),
            message: format!("{key}: {msg}"),
        }
    }

    fn syntax(&self, text: &str, e: &toml::de::Error) -> ConfigError {
        let msg = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        let at = e.span().map(|s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            format!("line {line}, column {col}: ")
        });
        ConfigError::Invalid {
            path: self.file.clone(),
            message: format!("{}invalid TOML: {msg}", at.unwrap_or_default()),
        }
    }

    fn check_keys(&self, t: &Table, prefix: &str, allowed: &[&str]) -> R<()> {
        for key in t.keys() {
            if !allowed.contains(&key.as_str()) {
                let what = if prefix.is_empty() {
                    "unknown top-level key".to_string()
                } else {
                    format!("unknown key in [{prefix}]")
                };
                return Err(self.err(
                    &join(prefix, key),
                    format!("{what}; allowed: {}", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn table<'a>(&self, t: &'a Table, prefix: &str, key: &str) -> R<Option<&'a Table>> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Table(sub)) => Ok(Some(sub)),
            Some(v) => Err(self.err(
                &join(prefix, key),
                format!("must be a table ([{}]), got {}", join(prefix, key), got(v)),
            )),
        }
    }

    fn pos_int(&self, v: &Value, key: &str) -> R<u64> {
        match v {
            Value::Integer(i) if *i > 0 => Ok(*i as u64),
            _ => Err(self.err(key, format!("must be a positive integer, got {}", got(v)))),
        }
    }

    fn nonneg_int(&self, v: &Value, key: &str) -> R<u64> {
        match v {
            Value::Integer(i) if *i >= 0 => Ok(*i as u64),
            _ => Err(self.err(key, format!("must be an integer >= 0, got {}", got(v)))),
        }
    }

    fn int_range(&self, v: &Value, key: &str, lo: i64, hi: i64) -> R<u64> {
        match v {
            Value::Integer(i) if (lo..=hi).contains(i) => Ok(*i as u64),
            _ => Err(self.err(
                key,
                format!("must be an integer from {lo} to {hi}, got {}", got(v)),
            )),
        }
    }

    fn boolean(&self, v: &Value, key: &str) -> R<bool> {
        match v {
            Value::Boolean(b) => Ok(*b),
            _ => Err(self.err(key, format!("must be true or false, got {}", got(v)))),
        }
    }

    fn string(&self, v: &Value, key: &str) -> R<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.err(key, format!("must be a string, got {}", got(v)))),
        }
    }

    fn str_list(&self, v: &Value, key: &str) -> R<Vec<String>> {
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.err(
                        &format!("{key}[{i}]"),
                        format!("must be a string, got {}", got(other)),
                    )),
                })
                .collect(),
            Value::String(s) => Err(self.err(
                key,
                format!(
                    "must be an array of strings, got {} (write [{}])",
                    got(v),
                    serde_json::Value::String(s.clone())
                ),
            )),
            _ => Err(self.err(key, format!("must be an array of strings, got {}", got(v)))),
        }
    }

    fn number(&self, v: &Value, key: &str, expected: &str) -> R<f64> {
        let f = match v {
            Value::Integer(i) => *i as f64,
            Value::Float(f) => *f,
            _ => return Err(self.err(key, format!("must be {expected}, got {}", got(v)))),
        };
        if f.is_nan() {
            return Err(self.err(key, format!("must be {expected}, got {}", got(v))));
        }
        Ok(f)
    }

    fn pct(&self, v: &Value, key: &str) -> R<f64> {
        let what = "a number from 0 to 100";
        let f = self.number(v, key, what)?;
        if !(0.0..=100.0).contains(&f) {
            return Err(self.err(key, format!("must be {what}, got {}", got(v))));
        }
        Ok(f)
    }

    fn pos_pct(&self, v: &Value, key: &str) -> R<f64> {
        let what = "a number above 0 and at most 100";
        let f = self.number(v, key, what)?;
        if !(f > 0.0 && f <= 100.0) {
            return Err(self.err(key, format!("must be {what}, got {}", got(v))));
        }
        Ok(f)
    }

    fn pos_float(&self, v: &Value, key: &str) -> R<f64> {
        let what = "a positive number";
        let f = self.number(v, key, what)?;
        if !(f > 0.0 && f.is_finite()) {
            return Err(self.err(key, format!("must be {what}, got {}", got(v))));
        }
        Ok(f)
    }

    fn choice<T: Copy>(&self, v: &Value, key: &str, options: &[(&str, T)]) -> R<T> {
        if let Value::String(s) = v {
            if let Some((_, t)) = options.iter().find(|(n, _)| n == s) {
                return Ok(*t);
            }
        }
        let names: Vec<String> = options.iter().map(|(n, _)| format!("'{n}'")).collect();
        Err(self.err(
            key,
            format!("must be one of {}, got {}", names.join(", "), got(v)),
        ))
    }

    fn regex_list(&self, v: &Value, key: &str, case_insensitive: bool) -> R<Vec<Regex>> {
        let pats = self.str_list(v, key)?;
        pats.iter()
            .enumerate()
            .map(|(i, p)| {
                let src = if case_insensitive {
                    format!("(?i){p}")
                } else {
                    p.clone()
                };
                Regex::new(&src).map_err(|e| {
                    self.err(
                        &format!("{key}[{i}]"),
                        format!(
                            "invalid regex {}: {}",
                            serde_json::Value::String(p.clone()),
                            one_line_regex_error(&e)
                        ),
                    )
                })
            })
            .collect()
    }

    /// `{project}` substitution and `~` expansion; relative → under `work_dir`.
    fn path_under(&self, raw: &str, key: &str, project: &str, work_dir: &Path) -> R<PathBuf> {
        if has_bad_char(raw) {
            return Err(self.err(key, "contains a control or non-printable character"));
        }
        let p = expand_tilde(&raw.replace("{project}", project));
        let p = if p.is_absolute() {
            p
        } else {
            resolve_lenient(&work_dir.join(p))
        };
        if has_bad_char(&p.to_string_lossy()) {
            return Err(self.err(key, "contains a control or non-printable character"));
        }
        Ok(p)
    }

    fn config(&self, root: &Table) -> R<Config> {
        let empty = Table::new();
        self.check_keys(root, "", TOP_KEYS)?;
        let schema_version = self.schema_version(root)?;

        let agent_t = self.table(root, "", "agent")?.unwrap_or(&empty);
        let agent = self.agent(agent_t, "agent", true)?;

        let runtime_t = self.table(root, "", "runtime")?.unwrap_or(&empty);
        let work_dir = self.work_dir(runtime_t)?;
        let project = match work_dir.file_name() {
            None => "default".to_string(),
            Some(n) => n.to_string_lossy().into_owned(),
        };
        if !valid_project_name(&project) {
            return Err(self.err(
                "runtime.work_dir",
                format!(
                    "the project name '{project}' (the last component of '{}') must match [A-Za-z0-9._-]+; \
                     it goes into systemd unit names and remote commands, so rename the directory",
                    work_dir.display()
                ),
            ));
        }

        let phases_t = self.table(root, "", "phases")?.unwrap_or(&empty);
        let phases = self.phases(phases_t, agent_t, &project, &work_dir)?;
        let runtime = self.runtime(runtime_t, &project, work_dir.clone())?;
        let prompt_t = self.table(root, "", "prompt")?.unwrap_or(&empty);
        let prompt = self.prompt(prompt_t, &project, &work_dir)?;
        let vcs_t = self.table(root, "", "vcs")?.unwrap_or(&empty);
        let vcs = self.vcs(vcs_t)?;
        let monitor_t = self.table(root, "", "monitor")?.unwrap_or(&empty);
        let monitor = self.monitor(monitor_t)?;
        let plugins_t = self.table(root, "", "plugins")?.unwrap_or(&empty);
        self.check_keys(plugins_t, "plugins", &["disable"])?;
        let plugins = PluginsConfig {
            disable: match plugins_t.get("disable") {
                Some(v) => self.str_list(v, "plugins.disable")?,
                None => Vec::new(),
            },
        };
        let schedule_t = self.table(root, "", "schedule")?.unwrap_or(&empty);
        let schedule = self.schedule(schedule_t, "schedule")?;
        let goal = match self.table(root, "", "goal")? {
            Some(t) => Some(self.goal(t, &project, &work_dir)?),
            None => None,
        };

        let mut phases = phases;
        // A phase schedule without its own timezone inherits the global one.
        for ov in phases.overrides.values_mut() {
            if let Some(s) = ov.schedule.as_mut() {
                if s.timezone.is_none() {
                    s.timezone = schedule.timezone.clone();
                }
            }
        }

        let cfg = Config {
            path: self.file.clone(),
            schema_version,
            project,
            agent,
            runtime,
            prompt,
            vcs,
            monitor,
            phases,
            plugins,
            schedule,
            goal,
        };
        self.check_goal_ledger(&cfg)?;
        Ok(cfg)
    }

    fn schema_version(&self, root: &Table) -> R<Option<i64>> {
        match root.get("schema_version") {
            None => Ok(None),
            Some(Value::Integer(v)) if *v == SCHEMA_VERSION => Ok(Some(*v)),
            Some(Value::Integer(v)) if *v > SCHEMA_VERSION => Err(self.err(
                "schema_version",
                format!(
                    "{v} is newer than this agent-runner supports (max {SCHEMA_VERSION}); upgrade agent-runner"
                ),
            )),
            Some(v) => Err(self.err(
                "schema_version",
                format!(
                    "must be the integer {SCHEMA_VERSION} (or absent for a 0.2-style file), got {}",
                    got(v)
                ),
            )),
        }
    }

    fn agent(&self, t: &Table, prefix: &str, require_prompt: bool) -> R<AgentConfig> {
        self.check_keys(t, prefix, AGENT_KEYS)?;
        let k = |key: &str| join(prefix, key);
        let template = match t.get("prompt_arg_template") {
            Some(v) => self.str_list(v, &k("prompt_arg_template"))?,
            None => {
                return Err(self.err(
                    &k("prompt_arg_template"),
                    "required (an array of strings, e.g. [\"-p\", \"{prompt}\"]; [] is allowed with stdin delivery)",
                ))
            }
        };
        let delivery = match t.get("prompt_delivery") {
            Some(v) => self.choice(
                v,
                &k("prompt_delivery"),
                &[
                    ("argv", PromptDelivery::Argv),
                    ("stdin", PromptDelivery::Stdin),
                ],
            )?,
            None => PromptDelivery::Argv,
        };
        if delivery == PromptDelivery::Stdin && contains_prompt(&template) {
            return Err(self.err(
                &k("prompt_arg_template"),
                "remove {prompt}: with prompt_delivery = \"stdin\" the prompt is piped to stdin, not placed in argv",
            ));
        }
        if delivery == PromptDelivery::Argv && require_prompt && !contains_prompt(&template) {
            return Err(self.err(
                &k("prompt_arg_template"),
                "has no {prompt} placeholder, so the prompt would never reach the agent; \
                 add \"{prompt}\" to one element or set prompt_delivery = \"stdin\"",
            ));
        }
        let command = match t.get("command") {
            Some(v) => self.str_list(v, &k("command"))?,
            None => {
                return Err(self.err(
                    &k("command"),
                    "required (an array of strings, e.g. [\"claude\", \"--verbose\"])",
                ))
            }
        };
        match command.first() {
            None => return Err(self.err(&k("command"), "must not be empty")),
            Some(c) if c.is_empty() => {
                return Err(self.err(&k("command[0]"), "the program name must not be empty"))
            }
            Some(_) => {}
        }
        let name = match t.get("name") {
            Some(v) => Some(self.string(v, &k("name"))?),
            None => None,
        };
        let mut env = Vec::new();
        if let Some(env_t) = self.table(t, prefix, "env")? {
            for (key, v) in env_t {
                let full = format!("{}.{key}", k("env"));
                if key.is_empty() || key.contains('=') || key.contains('\0') {
                    return Err(self.err(&full, "is not a valid environment variable name"));
                }
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Integer(i) => i.to_string(),
                    Value::Float(f) => format!("{f:?}"),
                    Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(self.err(&full, format!("must be a string, got {}", got(other))))
                    }
                };
                if value.contains('\0') {
                    return Err(self.err(&full, "must not contain a NUL character"));
                }
                env.push((key.clone(), value));
            }
        }
        let exec_prefix = match t.get("exec_prefix") {
            Some(v) => self.str_list(v, &k("exec_prefix"))?,
            None => Vec::new(),
        };
        let terminal_marker = match t.get("terminal_marker") {
            Some(v) => self.string(v, &k("terminal_marker"))?,
            None => DEFAULT_TERMINAL_MARKER.to_string(),
        };
        let sigterm_grace_s = match t.get("sigterm_grace_s") {
            Some(v) => self.int_range(v, &k("sigterm_grace_s"), 1, SIGTERM_GRACE_MAX)?,
            None => 10,
        };
        Ok(AgentConfig {
            command,
            prompt_arg_template: template,
            prompt_delivery: delivery,
            name,
            env,
            exec_prefix,
            terminal_marker,
            sigterm_grace_s,
        })
    }

    fn work_dir(&self, runtime_t: &Table) -> R<PathBuf> {
        let raw = match runtime_t.get("work_dir") {
            Some(v) => self.string(v, "runtime.work_dir")?,
            None => {
                return Err(self.err(
                    "runtime.work_dir",
                    "required (the project's git work tree; \".\" = the config file's folder)",
                ))
            }
        };
        if has_bad_char(&raw) {
            return Err(self.err(
                "runtime.work_dir",
                "contains a control or non-printable character",
            ));
        }
        let p = expand_tilde(&raw.replace("{project}", ""));
        let base = self.file.parent().unwrap_or(Path::new("/"));
        let p = resolve_lenient(&base.join(p));
        if has_bad_char(&p.to_string_lossy()) {
            return Err(self.err(
                "runtime.work_dir",
                "contains a control or non-printable character",
            ));
        }
        Ok(p)
    }

    /// `round_budget_s` (0.3) or its 0.2 name `round_timeout_s`, never both.
    fn budget(&self, t: &Table, prefix: &str) -> R<Option<u64>> {
        match (t.get("round_budget_s"), t.get("round_timeout_s")) {
            (Some(_), Some(_)) => Err(self.err(
                &join(prefix, "round_timeout_s"),
                format!(
                    "set together with {}; they are the same setting (0.2 and 0.3 names), keep one",
                    join(prefix, "round_budget_s")
                ),
            )),
            (Some(v), None) => Ok(Some(self.pos_int(v, &join(prefix, "round_budget_s"))?)),
            (None, Some(v)) => Ok(Some(self.pos_int(v, &join(prefix, "round_timeout_s"))?)),
            (None, None) => Ok(None),
        }
    }

    fn runtime(&self, t: &Table, project: &str, work_dir: PathBuf) -> R<RuntimeConfig> {
        if t.contains_key("round_timeout_per_phase") {
            return Err(self.err(
                "runtime.round_timeout_per_phase",
                "removed in upstream 0.1.16; use [phases.<name>] round_budget_s = X instead",
            ));
        }
        if t.contains_key("rate_limit_action") {
            return Err(self.err(
                "runtime.rate_limit_action",
                "removed in upstream 0.1.29; use runtime.transient_error_action (same values: back_off / skip / stop)",
            ));
        }
        self.check_keys(t, "runtime", RUNTIME_KEYS)?;
        let get = |k: &str| t.get(k);
        let log_dir = match get("log_dir") {
            Some(v) => {
                let raw = self.string(v, "runtime.log_dir")?;
                self.path_under(&raw, "runtime.log_dir", project, &work_dir)?
            }
            None => {
                return Err(self.err(
                    "runtime.log_dir",
                    "required (e.g. \"~/.agent-runner/{project}/logs\")",
                ))
            }
        };
        let opt_path = |key: &str| -> R<Option<PathBuf>> {
            match get(key) {
                Some(v) => {
                    let full = join("runtime", key);
                    let raw = self.string(v, &full)?;
                    Ok(Some(self.path_under(&raw, &full, project, &work_dir)?))
                }
                None => Ok(None),
            }
        };
        let narrative_file = opt_path("narrative_file")?;
        let stop_file = opt_path("stop_file")?;
        Ok(RuntimeConfig {
            round_budget_s: self.budget(t, "runtime")?.unwrap_or(1800),
            restart_delay_s: match get("restart_delay_s") {
                Some(v) => self.nonneg_int(v, "runtime.restart_delay_s")?,
                None => 3,
            },
            disable_pre_round_hooks: match get("disable_pre_round_hooks") {
                Some(v) => self.boolean(v, "runtime.disable_pre_round_hooks")?,
                None => false,
            },
            round_log_retention: match get("round_log_retention") {
                Some(v) => self.nonneg_int(v, "runtime.round_log_retention")?,
                None => 0,
            },
            narrative_file,
            transient_error_action: match get("transient_error_action") {
                Some(v) => self.choice(
                    v,
                    "runtime.transient_error_action",
                    &[
                        ("back_off", TransientErrorAction::BackOff),
                        ("skip", TransientErrorAction::Skip),
                        ("stop", TransientErrorAction::Stop),
                    ],
                )?,
                None => TransientErrorAction::BackOff,
            },
            max_rounds: match get("max_rounds") {
                Some(v) => Some(self.pos_int(v, "runtime.max_rounds")?),
                None => None,
            },
            stop_file,
            substrate_fingerprint_paths: match get("substrate_fingerprint_paths") {
                Some(v) => self.str_list(v, "runtime.substrate_fingerprint_paths")?,
                None => Vec::new(),
            },
            fresh_eyes_every_n: match get("fresh_eyes_every_n") {
                Some(v) => Some(self.pos_int(v, "runtime.fresh_eyes_every_n")?),
                None => None,
            },
            dry_run: match get("dry_run") {
                Some(v) => self.boolean(v, "runtime.dry_run")?,
                None => false,
            },
            max_grace_after_result_s: match get("max_grace_after_result_s") {
                Some(v) => self.nonneg_int(v, "runtime.max_grace_after_result_s")?,
                None => 0,
            },
            grace_kill_ignore_patterns: match get("grace_kill_ignore_patterns") {
                Some(v) => self.regex_list(v, "runtime.grace_kill_ignore_patterns", false)?,
                None => Vec::new(),
            },
            metrics_interval_s: match get("metrics_interval_s") {
                Some(v) => self.nonneg_int(v, "runtime.metrics_interval_s")?,
                None => 60,
            },
            log_dir,
            work_dir,
        })
    }

    fn prompt(&self, t: &Table, project: &str, work_dir: &Path) -> R<PromptConfig> {
        self.check_keys(t, "prompt", PROMPT_KEYS)?;
        let (file, files) = match (t.get("file"), t.get("files")) {
            (Some(_), Some(_)) => return Err(self.err(
                "prompt.files",
                "set together with prompt.file; set either prompt.file or prompt.files, not both",
            )),
            (None, None) => {
                return Err(self.err(
                    "prompt.file",
                    "required: set prompt.file (one file) or prompt.files (a list)",
                ))
            }
            (Some(v), None) => {
                let raw = self.string(v, "prompt.file")?;
                (
                    Some(self.path_under(&raw, "prompt.file", project, work_dir)?),
                    Vec::new(),
                )
            }
            (None, Some(v)) => {
                let raw = self.str_list(v, "prompt.files")?;
                if raw.is_empty() {
                    return Err(self.err(
                        "prompt.files",
                        "must not be empty (a phase may send no prompt with [phases.<name>.prompt] files = [])",
                    ));
                }
                let files = raw
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        self.path_under(r, &format!("prompt.files[{i}]"), project, work_dir)
                    })
                    .collect::<R<Vec<_>>>()?;
                (None, files)
            }
        };
        Ok(PromptConfig {
            file,
            files,
            inject_context: match t.get("inject_context") {
                Some(v) => self.boolean(v, "prompt.inject_context")?,
                None => true,
            },
            context_injection_mode: match t.get("context_injection_mode") {
                Some(v) => self.choice(
                    v,
                    "prompt.context_injection_mode",
                    &[
                        ("prepend", ContextMode::Prepend),
                        ("file", ContextMode::File),
                        ("none", ContextMode::None),
                    ],
                )?,
                None => ContextMode::Prepend,
            },
            concat_separator: match t.get("concat_separator") {
                Some(v) => self.string(v, "prompt.concat_separator")?,
                None => "\n\n".to_string(),
            },
            strip_yaml_frontmatter: match t.get("strip_yaml_frontmatter") {
                Some(v) => self.boolean(v, "prompt.strip_yaml_frontmatter")?,
                None => true,
            },
        })
    }

    fn vcs(&self, t: &Table) -> R<VcsConfig> {
        if t.contains_key("orphan_action") {
            return Err(self.err(
                "vcs.orphan_action",
                "removed in upstream 0.1.18; use vcs.dirty_action instead",
            ));
        }
        self.check_keys(t, "vcs", VCS_KEYS)?;
        Ok(VcsConfig {
            dirty_action: match t.get("dirty_action") {
                Some(v) => self.choice(
                    v,
                    "vcs.dirty_action",
                    &[
                        ("stash", DirtyAction::Stash),
                        ("ignore", DirtyAction::Ignore),
                        ("auto_commit", DirtyAction::AutoCommit),
                    ],
                )?,
                None => DirtyAction::Stash,
            },
            stash_idempotency_s: match t.get("stash_idempotency_s") {
                Some(v) => self.pos_int(v, "vcs.stash_idempotency_s")?,
                None => 5,
            },
        })
    }

    fn monitor(&self, t: &Table) -> R<MonitorConfig> {
        self.check_keys(t, "monitor", MONITOR_KEYS)?;
        let nonneg = |key: &str, default: u64| -> R<u64> {
            match t.get(key) {
                Some(v) => self.nonneg_int(v, &join("monitor", key)),
                None => Ok(default),
            }
        };
        let auth_fail_patterns = match t.get("auth_fail_patterns") {
            Some(v) => self.regex_list(v, "monitor.auth_fail_patterns", true)?,
            None => Vec::new(),
        };
        let auth_fail_patterns = if auth_fail_patterns.is_empty() {
            // An empty list falls back to the default pattern (upstream rule).
            Regex::new(&format!("(?i){DEFAULT_AUTH_FAIL_PATTERN}"))
                .map(|r| vec![r])
                .map_err(|e| self.err("monitor.auth_fail_patterns", one_line_regex_error(&e)))?
        } else {
            auth_fail_patterns
        };
        let auto_stop_on = match t.get("auto_stop_on") {
            Some(v) => {
                let names = self.str_list(v, "monitor.auto_stop_on")?;
                if let Some((i, n)) = names
                    .iter()
                    .enumerate()
                    .find(|(_, n)| n.starts_with("goal"))
                {
                    return Err(self.err(
                        &format!("monitor.auto_stop_on[{i}]"),
                        format!("'{n}' is not allowed: goal kinds are advisory and can never stop the service"),
                    ));
                }
                names
            }
            None => vec!["oauth_fail".to_string(), "disk_critical".to_string()],
        };
        let remote_failure_tolerance_s = match t.get("remote_failure_tolerance_s") {
            Some(v) => self.int_range(
                v,
                "monitor.remote_failure_tolerance_s",
                0,
                REMOTE_TOLERANCE_MAX,
            )?,
            None => 90,
        };
        let window = nonneg("anomaly_repetitive_window", 0)?;
        let threshold = nonneg("anomaly_repetitive_threshold", 0)?;
        if window > 0 && threshold > window {
            return Err(self.err(
                "monitor.anomaly_repetitive_threshold",
                format!(
                    "({threshold}) must be <= monitor.anomaly_repetitive_window ({window}), or the detector can never fire"
                ),
            ));
        }
        Ok(MonitorConfig {
            auth_fail_patterns,
            auth_fail_hint: match t.get("auth_fail_hint") {
                Some(v) => self.string(v, "monitor.auth_fail_hint")?,
                None => String::new(),
            },
            auto_stop_on,
            remote_failure_tolerance_s,
            anomaly_repetitive_window: window,
            anomaly_repetitive_threshold: threshold,
            round_progress_interval_s: nonneg("round_progress_interval_s", 0)?,
            supervisor_stale_threshold_s: match t.get("supervisor_stale_threshold_s") {
                Some(v) => Some(self.nonneg_int(v, "monitor.supervisor_stale_threshold_s")?),
                None => None,
            },
            host_health: self.host_health(t)?,
        })
    }

    /// Collect `[monitor.host_health]` values from the 0.3 sub-tables and the
    /// 0.2 flat keys; the same setting under both names is an error.
    fn host_health_values<'a>(&self, hh: &'a Table) -> R<HhValues<'a>> {
        let prefix = "monitor.host_health";
        let mut allowed: Vec<&str> = HH_SUBTABLES.to_vec();
        allowed.extend(HH_FLAT.iter().map(|(flat, _, _)| *flat));
        self.check_keys(hh, prefix, &allowed)?;
        let mut out: HhValues<'a> = BTreeMap::new();
        for (sub, keys) in [
            ("memory", HH_MEMORY_KEYS),
            ("disk", HH_DISK_KEYS),
            ("pressure", HH_PRESSURE_KEYS),
            ("brake", HH_BRAKE_KEYS),
        ] {
            let sub_prefix = join(prefix, sub);
            if let Some(t) = self.table(hh, prefix, sub)? {
                self.check_keys(t, &sub_prefix, keys)?;
                for key in keys {
                    if let Some(v) = t.get(*key) {
                        out.insert((sub, key), (v, join(&sub_prefix, key)));
                    }
                }
            }
        }
        for (flat, sub, key) in HH_FLAT {
            if let Some(v) = hh.get(*flat) {
                let flat_name = join(prefix, flat);
                if let Some((_, nested)) = out.get(&(*sub, *key)) {
                    return Err(self.err(
                        &flat_name,
                        format!("set together with {nested}; they are the same setting (0.2 and 0.3 names), keep one"),
                    ));
                }
                out.insert((sub, key), (v, flat_name));
            }
        }
        Ok(out)
    }

    fn host_health(&self, monitor_t: &Table) -> R<HostHealth> {
        let empty = Table::new();
        let hh = self
            .table(monitor_t, "monitor", "host_health")?
            .unwrap_or(&empty);
        let vals = self.host_health_values(hh)?;
        let get = |sub: &'static str, key: &'static str| vals.get(&(sub, key));
        macro_rules! field {
            ($sub:literal, $key:literal, $check:ident, $default:expr) => {
                match get($sub, $key) {
                    Some((v, name)) => self.$check(v, name)?,
                    None => $default,
                }
            };
        }
        Ok(HostHealth {
            memory: MemoryHealth {
                avail_min_mb: field!("memory", "avail_min_mb", nonneg_int, 200),
                free_low_mb: field!("memory", "free_low_mb", pos_int, 16),
                swap_out_noise_floor_mb: field!("memory", "swap_out_noise_floor_mb", pos_int, 32),
            },
            disk: DiskHealth {
                warning_pct: field!("disk", "warning_pct", pct, 90.0),
                critical_pct: field!("disk", "critical_pct", pct, 95.0),
                growth_window_s: field!("disk", "growth_window_s", pos_int, 1800),
                disk_growth_pct_per_hr_warning: field!(
                    "disk",
                    "disk_growth_pct_per_hr_warning",
                    pos_float,
                    5.0
                ),
                inode_growth_pct_per_hr_warning: field!(
                    "disk",
                    "inode_growth_pct_per_hr_warning",
                    pos_float,
                    5.0
                ),
            },
            pressure: PressureHealth {
                full_avg10_critical: field!("pressure", "full_avg10_critical", pos_pct, 60.0),
                some_avg10_warning: field!("pressure", "some_avg10_warning", pos_pct, 5.0),
                critical_consecutive_samples: field!(
                    "pressure",
                    "critical_consecutive_samples",
                    pos_int,
                    3
                ),
                in_round_terminate: field!("pressure", "in_round_terminate", boolean, true),
                cgroup_growth_rate_warning_mb_per_min: field!(
                    "pressure",
                    "cgroup_growth_rate_warning_mb_per_min",
                    pos_float,
                    512.0
                ),
                in_round_nudge: field!("pressure", "in_round_nudge", boolean, false),
            },
            brake: BrakeHealth {
                memory_high: field!("brake", "memory_high", boolean, false),
                memory_high_step_pct: match get("brake", "memory_high_step_pct") {
                    Some((v, name)) => self.int_range(v, name, 0, BRAKE_STEP_MAX)?,
                    None => 0,
                },
                warning_consecutive_samples: field!(
                    "brake",
                    "warning_consecutive_samples",
                    pos_int,
                    3
                ),
            },
        })
    }

    fn phases(
        &self,
        t: &Table,
        base_agent: &Table,
        project: &str,
        work_dir: &Path,
    ) -> R<PhasesConfig> {
        let list = match t.get("list") {
            Some(v) => self.str_list(v, "phases.list")?,
            None => Vec::new(),
        };
        if let Some((i, _)) = list.iter().enumerate().find(|(_, n)| n.is_empty()) {
            return Err(self.err(
                &format!("phases.list[{i}]"),
                "a phase name must not be empty",
            ));
        }
        let phase_policy = match t.get("phase_policy") {
            Some(v) => self.choice(
                v,
                "phases.phase_policy",
                &[("wait", PhasePolicy::Wait), ("skip", PhasePolicy::Skip)],
            )?,
            None => PhasePolicy::Wait,
        };
        let mut overrides = BTreeMap::new();
        for (name, v) in t {
            if name == "list" || name == "phase_policy" {
                continue;
            }
            let prefix = format!("phases.{name}");
            let Value::Table(pt) = v else {
                return Err(self.err(
                    &prefix,
                    format!(
                        "must be a phase table [phases.{name}], got {}; only 'list' and 'phase_policy' may be scalars under [phases]",
                        got(v)
                    ),
                ));
            };
            if !list.iter().any(|n| n == name) {
                return Err(self.err(
                    &prefix,
                    format!(
                        "[phases.{name}] is declared but '{name}' is not in phases.list ({list:?})"
                    ),
                ));
            }
            overrides.insert(
                name.clone(),
                self.phase(pt, &prefix, base_agent, project, work_dir)?,
            );
        }
        Ok(PhasesConfig {
            list,
            phase_policy,
            overrides,
        })
    }

    fn phase(
        &self,
        pt: &Table,
        prefix: &str,
        base_agent: &Table,
        project: &str,
        work_dir: &Path,
    ) -> R<PhaseOverride> {
        self.check_keys(pt, prefix, PHASE_KEYS)?;
        let flat = self.budget(pt, prefix)?;
        let runtime_prefix = join(prefix, "runtime");
        let nested = match self.table(pt, prefix, "runtime")? {
            Some(rt) => {
                self.check_keys(rt, &runtime_prefix, PHASE_RUNTIME_KEYS)?;
                self.budget(rt, &runtime_prefix)?
            }
            None => None,
        };
        if flat.is_some() && nested.is_some() {
            return Err(self.err(
                &join(&runtime_prefix, "round_budget_s"),
                format!("set together with the flat {prefix}.round_budget_s; keep one"),
            ));
        }
        let prompt_files = match self.table(pt, prefix, "prompt")? {
            Some(p) => {
                let pp = join(prefix, "prompt");
                self.check_keys(p, &pp, &["files"])?;
                let Some(v) = p.get("files") else {
                    return Err(self.err(
                        &join(&pp, "files"),
                        "required in a phase's prompt table (an array of paths; [] = no prompt)",
                    ));
                };
                let raw = self.str_list(v, &join(&pp, "files"))?;
                Some(
                    raw.iter()
                        .enumerate()
                        .map(|(i, r)| {
                            self.path_under(r, &format!("{pp}.files[{i}]"), project, work_dir)
                        })
                        .collect::<R<Vec<_>>>()?,
                )
            }
            None => None,
        };
        let agent = match self.table(pt, prefix, "agent")? {
            Some(sub) => {
                let ap = join(prefix, "agent");
                if sub.contains_key("exec_prefix") {
                    return Err(self.err(
                        &join(&ap, "exec_prefix"),
                        "not allowed per phase; set exec_prefix once in [agent] (it applies to every phase)",
                    ));
                }
                let mut merged = base_agent.clone();
                for (k, v) in sub {
                    merged.insert(k.clone(), v.clone());
                }
                let require_prompt = prompt_files.as_ref().map_or(true, |f| !f.is_empty());
                Some(self.agent(&merged, &ap, require_prompt)?)
            }
            None => None,
        };
        let schedule = match self.table(pt, prefix, "schedule")? {
            Some(s) => Some(self.schedule(s, &join(prefix, "schedule"))?),
            None => None,
        };
        Ok(PhaseOverride {
            round_budget_s: flat.or(nested),
            disable_pre_round_hooks: match pt.get("disable_pre_round_hooks") {
                Some(v) => Some(self.boolean(v, &join(prefix, "disable_pre_round_hooks"))?),
                None => None,
            },
            prompt_files,
            agent,
            schedule,
        })
    }

    fn schedule(&self, t: &Table, prefix: &str) -> R<ScheduleConfig> {
        self.check_keys(t, prefix, SCHEDULE_KEYS)?;
        let timezone = match t.get("timezone") {
            Some(v) => {
                let key = join(prefix, "timezone");
                let tz = self.string(v, &key)?;
                check_timezone(&tz).map_err(|e| self.err(&key, e))?;
                Some(tz)
            }
            None => None,
        };
        let windows = |key: &str| -> R<Vec<String>> {
            let full = join(prefix, key);
            let list = match t.get(key) {
                Some(v) => self.str_list(v, &full)?,
                None => return Ok(Vec::new()),
            };
            for (i, w) in list.iter().enumerate() {
                parse_window(w).map_err(|e| self.err(&format!("{full}[{i}]"), e))?;
            }
            Ok(list)
        };
        Ok(ScheduleConfig {
            timezone,
            run_windows: windows("run_windows")?,
            pause_windows: windows("pause_windows")?,
        })
    }

    fn goal(&self, t: &Table, project: &str, work_dir: &Path) -> R<GoalConfig> {
        self.check_keys(t, "goal", GOAL_KEYS)?;
        let ledger = match t.get("ledger") {
            Some(v) => {
                let raw = self.string(v, "goal.ledger")?;
                self.path_under(&raw, "goal.ledger", project, work_dir)?
            }
            None => {
                return Err(self.err(
                    "goal.ledger",
                    "required when [goal] is present (a prompt file the supervisor appends advisories to)",
                ))
            }
        };
        let mut checks = Vec::new();
        match t.get("checks") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let prefix = format!("goal.checks[{i}]");
                    let Value::Table(ct) = item else {
                        return Err(self.err(
                            &prefix,
                            format!("must be a table ([[goal.checks]]), got {}", got(item)),
                        ));
                    };
                    self.check_keys(ct, &prefix, GOAL_CHECK_KEYS)?;
                    let name = match ct.get("name") {
                        Some(v) => self.string(v, &join(&prefix, "name"))?,
                        None => {
                            return Err(self
                                .err(&join(&prefix, "name"), "required (a label for the check)"))
                        }
                    };
                    let cmd = match ct.get("cmd") {
                        Some(v) => self.str_list(v, &join(&prefix, "cmd"))?,
                        None => {
                            return Err(self.err(&join(&prefix, "cmd"), "required (an argv array)"))
                        }
                    };
                    if cmd.is_empty() {
                        return Err(self.err(&join(&prefix, "cmd"), "must not be empty"));
                    }
                    let cwd = match ct.get("cwd") {
                        Some(v) => Some(self.string(v, &join(&prefix, "cwd"))?),
                        None => None,
                    };
                    let timeout_s = match ct.get("timeout_s") {
                        Some(v) => self.int_range(
                            v,
                            &join(&prefix, "timeout_s"),
                            1,
                            GOAL_CHECK_TIMEOUT_MAX,
                        )?,
                        None => 10,
                    };
                    checks.push(GoalCheck {
                        name,
                        cmd,
                        cwd,
                        timeout_s,
                    });
                }
            }
            Some(v) => {
                return Err(self.err(
                    "goal.checks",
                    format!(
                        "must be an array of tables ([[goal.checks]]), got {}",
                        got(v)
                    ),
                ))
            }
        }
        Ok(GoalConfig { ledger, checks })
    }

    /// The ledger must be a prompt file at index >= 1 for every phase, and
    /// must not sit in the part of the work tree a stash would sweep.
    fn check_goal_ledger(&self, cfg: &Config) -> R<()> {
        let Some(goal) = &cfg.goal else {
            return Ok(());
        };
        let phases: Vec<Option<&str>> = if cfg.phases.list.is_empty() {
            vec![None]
        } else {
            cfg.phases.list.iter().map(|p| Some(p.as_str())).collect()
        };
        for phase in phases {
            let files = cfg.prompt_files_for(phase);
            let pos = files.iter().position(|f| *f == goal.ledger);
            if !matches!(pos, Some(i) if i >= 1) {
                let where_ = match phase {
                    None => "prompt.files".to_string(),
                    Some(p) => format!("phases.{p}.prompt.files (or prompt.files)"),
                };
                return Err(self.err(
                    "goal.ledger",
                    format!(
                        "'{}' must be listed in {where_} at index 1 or later (index 0 must exist at cold start; the single prompt.file form cannot carry it)",
                        goal.ledger.display()
                    ),
                ));
            }
        }
        let ledger = resolve_lenient(&goal.ledger);
        let work = resolve_lenient(&cfg.runtime.work_dir);
        let logs = resolve_lenient(&cfg.runtime.log_dir);
        if ledger.starts_with(&work) && !ledger.starts_with(&logs) {
            return Err(self.err(
                "goal.ledger",
                format!(
                    "'{}' is inside runtime.work_dir but outside runtime.log_dir, so the dirty-tree stash would sweep it away after each round; put it under log_dir or outside work_dir",
                    goal.ledger.display()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> String {
        "[agent]\ncommand = [\"x\"]\nprompt_arg_template = [\"{prompt}\"]\n\
         [runtime]\nwork_dir = \".\"\nlog_dir = \"logs\"\n\
         [prompt]\nfile = \"p.md\"\n"
            .to_string()
    }

    fn parse(extra: &str) -> R<Config> {
        let dir = Path::new("/tmp/agent-runner-unit/proj");
        from_str(
            &dir.join("agent-runner.toml"),
            &format!("{}{extra}", base()),
        )
    }

    #[test]
    fn minimal_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.project, "proj");
        assert_eq!(c.runtime.round_budget_s, 1800);
        assert_eq!(c.runtime.restart_delay_s, 3);
        assert_eq!(c.runtime.metrics_interval_s, 60);
        assert_eq!(c.agent.terminal_marker, DEFAULT_TERMINAL_MARKER);
        assert_eq!(c.agent.sigterm_grace_s, 10);
        assert_eq!(c.monitor.auto_stop_on, ["oauth_fail", "disk_critical"]);
        assert_eq!(c.monitor.remote_failure_tolerance_s, 90);
        assert_eq!(c.monitor.host_health.memory.avail_min_mb, 200);
        assert_eq!(c.monitor.host_health.disk.critical_pct, 95.0);
        assert!(c.monitor.auth_fail_patterns[0].is_match("Error: UNAUTHORIZED"));
        assert_eq!(
            c.runtime.log_dir,
            Path::new("/tmp/agent-runner-unit/proj/logs")
        );
        assert_eq!(c.schema_version, None);
    }

    #[test]
    fn syntax_error_is_one_line_with_position() {
        let e = from_str(Path::new("/x/a.toml"), "[agent\ncommand = 1\n").unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("/x/a.toml: line 1, column"), "{m}");
        assert!(!m.contains('\n'), "{m}");
    }

    #[test]
    fn regex_error_is_one_line() {
        let e = parse("[monitor]\nauth_fail_patterns = [\"(unclosed\"]\n").unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("monitor.auth_fail_patterns[0]: invalid regex"),
            "{m}"
        );
        assert!(!m.contains('\n'), "{m}");
    }

    #[test]
    fn resolve_lenient_folds_dotdot_in_missing_tail() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().canonicalize().unwrap();
        let p = resolve_lenient(&base.join("a/b/../c/./d"));
        assert_eq!(p, base.join("a/c/d"));
    }

    #[test]
    fn tilde_uses_home_argument_forms() {
        let p = expand_tilde("plain/x");
        assert_eq!(p, Path::new("plain/x"));
        let p = expand_tilde("~nosuchuser-xyz/q");
        assert_eq!(p, Path::new("~nosuchuser-xyz/q"));
    }

    #[test]
    fn every_key_is_documented() {
        let doc = include_str!("../../../docs/configuration.md");
        let mut keys: Vec<&str> = Vec::new();
        for set in [
            TOP_KEYS,
            AGENT_KEYS,
            RUNTIME_KEYS,
            PROMPT_KEYS,
            VCS_KEYS,
            MONITOR_KEYS,
            PHASE_KEYS,
            SCHEDULE_KEYS,
            GOAL_KEYS,
            HH_MEMORY_KEYS,
            HH_DISK_KEYS,
            HH_PRESSURE_KEYS,
            HH_BRAKE_KEYS,
        ] {
            keys.extend(set);
        }
        keys.extend(HH_FLAT.iter().map(|(flat, _, _)| *flat));
        for k in keys {
            assert!(
                doc.contains(&format!("`{k}`"))
                    || doc.contains(&format!(".{k}`"))
                    || doc.contains(&format!("`{k}."))
                    || doc.contains(&format!("[{k}]"))
                    || doc.contains(&format!(".{k}]")),
                "docs/configuration.md does not document '{k}'"
            );
        }
    }

    #[test]
    fn permission_denied_is_explained() {
        let e = unreadable(
            Path::new("/x/a.toml"),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(
            e.to_string(),
            "/x/a.toml: cannot read the config: permission denied (check the file's owner and mode)"
        );
    }

    #[test]
    fn bad_chars() {
        assert!(has_bad_char("a\nb"));
        assert!(has_bad_char("a\u{202e}b"));
        assert!(!has_bad_char("/home/ü/x y"));
    }
}
