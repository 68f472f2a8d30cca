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
//!
//! This file holds the entry points, the error type and the order in which a
//! file is read ([`from_str`]); by concern: `keys.rs` (the keys of every
//! section, unknown-key errors, optional and required keys), `values.rs`
//! (type readers), `paths.rs` (path expansion), and one file per section:
//! `agent.rs`, `runtime.rs`, `prompt.rs`, `vcs.rs`, `monitor.rs`,
//! `phases.rs`, `schedule.rs`, `goal.rs` (`[plugins]` is one key, read here).

mod agent;
mod goal;
mod keys;
mod monitor;
mod paths;
mod phases;
mod prompt;
mod runtime;
mod schedule;
mod values;
mod vcs;

pub use monitor::{clamp_of, Clamp, CLAMPS};
pub(crate) use paths::{expand_tilde, resolve_lenient};

use super::{Config, PluginsConfig, SCHEMA_VERSION};
use keys::allowed;
pub use keys::host_health_keys;
use paths::has_bad_char;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use toml::{Table, Value};
use values::got;

/// A config that cannot be used. Every variant renders as one line naming
/// the file; `Invalid` also names the key. `round`/`serve` map any of these
/// to exit 78; the commands layer decides the code of every verb.
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

/// Reads one file's table; `file` is the path every error names.
struct Loader {
    file: PathBuf,
}

fn valid_project_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

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

    /// The whole file: every section in the order their errors are reported.
    fn config(&self, root: &Table) -> R<Config> {
        let empty = Table::new();
        // A top-level section, or an empty table when it is absent.
        let section = |key: &str| -> R<&Table> { Ok(self.table(root, "", key)?.unwrap_or(&empty)) };
        self.check_keys(root, "", &allowed(""))?;
        let schema_version = self.schema_version(root)?;

        let agent_t = section("agent")?;
        let agent = self.agent(agent_t, "agent", true)?;

        let runtime_t = section("runtime")?;
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

        let phases_t = section("phases")?;
        let phases = self.phases(phases_t, agent_t, &project, &work_dir)?;
        let runtime = self.runtime(runtime_t, &project, work_dir.clone())?;
        let prompt_t = section("prompt")?;
        let prompt = self.prompt(prompt_t, &project, &work_dir)?;
        let vcs_t = section("vcs")?;
        let vcs = self.vcs(vcs_t)?;
        let monitor_t = section("monitor")?;
        let monitor = self.monitor(monitor_t)?;
        let plugins_t = section("plugins")?;
        self.check_keys(plugins_t, "plugins", &allowed("plugins"))?;
        let plugins = PluginsConfig {
            disable: self
                .opt(plugins_t, "plugins", "disable", Self::str_list)?
                .unwrap_or_default(),
        };
        let schedule_t = section("schedule")?;
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
        self.check_resume_flags(&cfg)?;
        Ok(cfg)
    }

    /// A resume flag the round injects (pi's `--session-id`, 0.3 delta
    /// §3.8) must not be in the static command already.
    fn check_resume_flags(&self, cfg: &Config) -> R<()> {
        let phases = cfg.phases.overrides.iter();
        let agents = std::iter::once(("agent".to_string(), &cfg.agent)).chain(
            phases.filter_map(|(n, o)| o.agent.as_ref().map(|a| (format!("phases.{n}.agent"), a))),
        );
        for (key, a) in agents {
            let flag = super::presets::manifest(&a.binary_name()).and_then(|m| m.resume_flag);
            if let Some(f) = flag.filter(|f| {
                a.command
                    .iter()
                    .chain(&a.prompt_arg_template)
                    .any(|c| c == f)
            }) {
                return Err(self.err(
                    &format!("{key}.command"),
                    format!("already contains '{f}': agent-runner injects it per round for cross-round resume; remove it from the static command"),
                ));
            }
        }
        Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TERMINAL_MARKER;

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
}
