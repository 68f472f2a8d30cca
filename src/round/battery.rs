//! The startup precondition battery (spec §6.1, 0.3 delta §3.16): checks that
//! must pass before a round may start. A permanent failure means the config is
//! broken (exit 78); a transient one may heal (exit 76).

use crate::config::Config;
use crate::round::prompt;
use std::path::{Path, PathBuf};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub reason: String,
    pub fix: String,
    pub permanent: bool,
}

impl Check {
    fn pass(name: &str) -> Self {
        Self {
            name: name.into(),
            ok: true,
            reason: String::new(),
            fix: String::new(),
            permanent: false,
        }
    }
    fn fail(
        name: &str,
        reason: impl Into<String>,
        fix: impl Into<String>,
        permanent: bool,
    ) -> Self {
        Self {
            name: name.into(),
            ok: false,
            reason: reason.into(),
            fix: fix.into(),
            permanent,
        }
    }
    /// `STARTUP FAIL: <name>: <reason> | how-to-fix: <fix>`
    pub fn line(&self) -> String {
        format!(
            "STARTUP FAIL: {}: {} | how-to-fix: {}",
            self.name, self.reason, self.fix
        )
    }
}

/// True if `AGENT_RUNNER_SKIP_STARTUP_CHECK` asks to skip the battery.
pub fn skipped_by_env() -> bool {
    std::env::var("AGENT_RUNNER_SKIP_STARTUP_CHECK")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

/// Find `cmd` the way the spawn will: absolute/relative-with-slash paths are
/// checked directly (relative to `work_dir`), bare names on `path_var`.
pub fn find_executable(cmd: &str, path_var: &str, work_dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.is_file() && std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    };
    if cmd.contains('/') {
        let p = if Path::new(cmd).is_absolute() {
            PathBuf::from(cmd)
        } else {
            work_dir.join(cmd)
        };
        return is_exec(&p).then_some(p);
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(cmd))
        .find(|p| is_exec(p))
}

/// Run every check (no short-circuit), in upstream order.
pub fn run(cfg: &Config) -> Vec<Check> {
    let mut out = vec![Check::pass("config_loaded")];
    // log_dir_writable
    let probe = cfg.runtime.log_dir.join(".write_probe");
    let w = crate::state::layout::create_dirs(&cfg.runtime.log_dir)
        .and_then(|_| std::fs::write(&probe, b"x"))
        .and_then(|_| std::fs::remove_file(&probe));
    out.push(match w {
        Ok(()) => Check::pass("log_dir_writable"),
        Err(e) => Check::fail(
            "log_dir_writable",
            format!(
                "cannot create or write {}: {e}",
                cfg.runtime.log_dir.display()
            ),
            "chmod / chown the dir, or change runtime.log_dir in config",
            false,
        ),
    });
    // agent_cli_in_path — resolved with the PATH the agent will see.
    let path_var = cfg
        .agent
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
    let exe = cfg.agent.exec_prefix.first().or(cfg.agent.command.first());
    out.push(match exe {
        None => Check::fail("agent_cli_in_path", "agent.command is empty", "", true),
        Some(c) if find_executable(c, &path_var, &cfg.runtime.work_dir).is_some() => {
            Check::pass("agent_cli_in_path")
        }
        Some(c) => Check::fail(
            "agent_cli_in_path",
            format!("'{c}' not found on PATH"),
            format!("install {c} or set agent.command[0] to its absolute path"),
            true,
        ),
    });
    // the container checks, for the base agent and each phase's own
    let agents = std::iter::once((String::new(), &cfg.agent)).chain(
        cfg.phases
            .overrides
            .iter()
            .filter_map(|(n, o)| o.agent.as_ref().map(|a| (format!(":{n}"), a))),
    );
    for (suffix, agent) in agents {
        out.extend(container_checks(cfg, agent, &suffix));
    }
    // work_dir_is_git_repo
    out.push(if crate::round::vcs::is_work_tree(&cfg.runtime.work_dir) {
        Check::pass("work_dir_is_git_repo")
    } else {
        Check::fail(
            "work_dir_is_git_repo",
            format!(
                "{} is not a git working tree",
                cfg.runtime.work_dir.display()
            ),
            "run `git init` in the work_dir, or change runtime.work_dir in config",
            true,
        )
    });
    // prompt_file_exists
    let files = cfg.prompt.global_files();
    out.push(match files.first() {
        None => Check::fail(
            "prompt_file_exists",
            "no prompt files configured",
            "set prompt.file or prompt.files in agent-runner.toml",
            true,
        ),
        Some(f) if f.exists() => Check::pass("prompt_file_exists"),
        Some(f) => Check::fail(
            "prompt_file_exists",
            format!("{} does not exist", f.display()),
            "create the prompt .md file or fix prompt.file / prompt.files[0] in config",
            true,
        ),
    });
    // prompt_smoke_passes (global, without context) and per phase with own files
    out.push(smoke("prompt_smoke_passes", &files, cfg));
    out.push(phase_window_overlap(cfg));
    for (name, o) in &cfg.phases.overrides {
        if let Some(pf) = o.prompt_files.as_ref().filter(|f| !f.is_empty()) {
            out.push(smoke(&format!("prompt_smoke_passes:{name}"), pf, cfg));
        }
    }
    out
}

/// `stdin_container_interactive` and `control_plane_outside_container` (0.3
/// delta §3.15): both permanent, both pass when the agent is no container run.
fn container_checks(cfg: &Config, agent: &crate::config::AgentConfig, suffix: &str) -> [Check; 2] {
    let work_dir = cfg.runtime.work_dir.to_string_lossy();
    let argv: Vec<String> = agent
        .exec_prefix
        .iter()
        .map(|t| t.replace("{work_dir}", &work_dir))
        .chain(agent.command.iter().cloned())
        .collect();
    let stdin_name = format!("stdin_container_interactive{suffix}");
    let plane_name = format!("control_plane_outside_container{suffix}");
    if super::container::detect(&argv).is_none() {
        return [Check::pass(&stdin_name), Check::pass(&plane_name)];
    }
    let stdin = if agent.prompt_delivery != crate::config::PromptDelivery::Stdin
        || super::container::prefix_is_interactive(&agent.exec_prefix)
    {
        Check::pass(&stdin_name)
    } else {
        Check::fail(
            &stdin_name,
            "stdin prompt delivery into a container, but exec_prefix lacks -i/--interactive",
            "add \"-i\" to [agent] exec_prefix (docker drops stdin without it → the agent hangs until the round-timeout kill)",
            true,
        )
    };
    let plane = if cfg.runtime.log_dir.starts_with(&cfg.runtime.work_dir) {
        Check::fail(
            &plane_name,
            "runtime.log_dir is inside work_dir, which the container mounts — the agent could forge the pid/lock control files agent-runner trusts",
            "set runtime.log_dir OUTSIDE work_dir (the default ~/.agent-runner/<project>/logs already is); agent-runner's per-round pid and lock files live under log_dir, so keeping log_dir outside the mount keeps them out of the agent's reach",
            true,
        )
    } else {
        Check::pass(&plane_name)
    };
    [stdin, plane]
}

/// `phase_window_overlap` (0.3 delta §3.11, §3.16): permanent.
fn phase_window_overlap(cfg: &Config) -> Check {
    let found = crate::config::overlap::phase_window_overlaps(cfg);
    if found.is_empty() {
        return Check::pass("phase_window_overlap");
    }
    let pairs: Vec<String> = found.iter().map(|o| o.describe()).collect();
    Check::fail(
        "phase_window_overlap",
        format!("overlapping agent-phase run_windows: {}", pairs.join("; ")),
        "separate the phases' run_windows, or add a pause_window that fully carves out the overlap",
        true,
    )
}

fn smoke(name: &str, files: &[PathBuf], cfg: &Config) -> Check {
    match prompt::assemble_body(
        files,
        &cfg.prompt.concat_separator,
        cfg.prompt.strip_yaml_frontmatter,
    ) {
        Err(e) => Check::fail(name, format!("assembly failed: {e}"), "", true),
        Ok(body) => match prompt::smoke_problem(&body) {
            None => Check::pass(name),
            Some((reason, fix)) => Check::fail(name, reason, fix, true),
        },
    }
}
