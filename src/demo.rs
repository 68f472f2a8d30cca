//! `agent-runner demo`: the main job on an embedded default. It makes a
//! scratch git project, configures the demo agent that ships in `agent/`, runs
//! `serve` on it and narrates the events as they are written: a clean round, a
//! dirty tree stashed, a hung agent killed by the hard wall, then the stop.
//! No external agent CLI, no network.

use crate::config::presets::{DEMO_AGENT, DEMO_PROMPT};
use crate::state::Layout;
use serde_json::Value;
use std::io::{BufRead, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Why the demo could not run; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("'{}' is not empty; pass an empty or new --dir", .0.display())]
    NotEmpty(PathBuf),
    #[error("cannot run git: {0} (install git)")]
    NoGit(std::io::Error),
    #[error("git {args} failed: {stderr}")]
    Git { args: String, stderr: String },
    #[error("cannot write the demo project under '{}': {source}", root.display())]
    Write {
        root: PathBuf,
        source: std::io::Error,
    },
    #[error("the demo preset is missing from this build")]
    NoPreset,
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot find own executable: {0}")]
    SelfExe(std::io::Error),
    #[error("cannot start serve: {0}")]
    Spawn(std::io::Error),
    #[error("waiting for serve: {0}")]
    Wait(std::io::Error),
}

fn git(dir: &Path, args: &[&str]) -> Result<(), DemoError> {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(DemoError::NoGit)?;
    if o.status.success() {
        Ok(())
    } else {
        Err(DemoError::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        })
    }
}

/// Lay out the scratch project under `root`; returns the config path.
pub fn scaffold(root: &Path) -> Result<PathBuf, DemoError> {
    let proj = root.join("project");
    let io = |source: std::io::Error| DemoError::Write {
        root: root.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(proj.join("prompts")).map_err(io)?;
    let agent = root.join("demo-agent.sh");
    std::fs::write(&agent, DEMO_AGENT).map_err(io)?;
    std::fs::write(proj.join("prompts/main.md"), DEMO_PROMPT).map_err(io)?;
    std::fs::write(proj.join(".gitignore"), "logs/\n").map_err(io)?;
    let cfg = proj.join("agent-runner.toml");
    let text = crate::config::presets::render("demo", "project", Some(&agent))
        .ok_or(DemoError::NoPreset)?;
    std::fs::write(&cfg, text).map_err(io)?;
    git(&proj, &["init", "-q", "-b", "main"])?;
    git(&proj, &["config", "user.name", "agent-runner demo"])?;
    git(
        &proj,
        &["config", "user.email", "demo@agent-runner.invalid"],
    )?;
    git(&proj, &["config", "commit.gpgsign", "false"])?;
    git(
        &proj,
        &[
            "add",
            "--",
            "agent-runner.toml",
            "prompts/main.md",
            ".gitignore",
        ],
    )?;
    git(&proj, &["commit", "-q", "-m", "demo: agent-runner config"])?;
    Ok(cfg)
}

/// One narrated line for an event, if it is worth telling.
pub fn narrate(e: &Value) -> Option<String> {
    let kind = e.get("event")?.as_str()?;
    let n = e.get("round_num").and_then(Value::as_u64).unwrap_or(0);
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Some(match kind {
        "round_start" => format!("round {n}: started"),
        "agent_spawn" => format!(
            "round {n}: agent spawned in its own process group, budget {}s",
            e.get("timeout_s")?.as_u64()?
        ),
        "agent_exit" => format!(
            "round {n}: agent exited — {} (exit code {}, {:.1}s)",
            s("exit_cause"),
            e.get("exit_code")?.as_i64()?,
            e.get("duration_s")?.as_f64()?
        ),
        "round_timeout_kill" => format!(
            "round {n}: hard wall — {}; TERM then KILL to the whole process group",
            s("reason")
        ),
        "dirty_detected" => format!(
            "round {n}: the agent left a dirty tree: {}",
            e.get("files").map(|f| f.to_string()).unwrap_or_default()
        ),
        "orphan_stashed" => format!(
            "round {n}: stashed it away as {} (nothing is lost: `git stash list`)",
            s("ref").chars().take(10).collect::<String>()
        ),
        "round_end" => format!("round {n}: done"),
        "agent_self_terminated" => format!(
            "loop: the agent asked to stop (.agent-done: '{}')",
            s("reason")
        ),
        "max_rounds_reached" => format!(
            "loop: max rounds reached ({})",
            e.get("max_rounds")?.as_u64()?
        ),
        "crash_loop" => "loop: crash-loop breaker tripped".to_string(),
        "config_broken" => "loop: config broken".to_string(),
        _ => return None,
    })
}

/// Follow the events file(s) of `layout` from `offset`, writing narration.
fn follow(
    layout: &Layout,
    offsets: &mut std::collections::HashMap<PathBuf, u64>,
    summary: &mut Summary,
    out: &mut dyn Write,
) {
    for f in layout.event_files() {
        let off = offsets.entry(f.clone()).or_insert(0);
        let Ok(mut file) = std::fs::File::open(&f) else {
            continue;
        };
        if file.seek(SeekFrom::Start(*off)).is_err() {
            continue;
        }
        let mut r = std::io::BufReader::new(file);
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 0) {
            if !line.ends_with('\n') {
                break; // torn line: read it next time
            }
            *off += line.len() as u64;
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                summary.add(&v);
                if let Some(t) = narrate(&v) {
                    let _ = writeln!(out, "  {t}");
                }
            }
            line.clear();
        }
    }
}

/// What the demo's rounds did, from their events.
#[derive(Debug, Default)]
pub struct Summary {
    /// Round number and exit cause of each round.
    pub rounds: Vec<(u64, String)>,
    /// The stash refs written.
    pub stashes: Vec<String>,
    /// The event kind that stopped the loop.
    pub stop: Option<String>,
}

impl Summary {
    fn add(&mut self, e: &Value) {
        let n = e.get("round_num").and_then(Value::as_u64).unwrap_or(0);
        match e.get("event").and_then(Value::as_str) {
            Some("agent_exit") => self.rounds.push((
                n,
                e.get("exit_cause")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
            )),
            Some("orphan_stashed") => self.stashes.push(
                e.get("ref")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            Some(
                k @ ("agent_self_terminated"
                | "max_rounds_reached"
                | "stop_file_detected"
                | "crash_loop"
                | "config_broken"),
            ) => self.stop = Some(k.to_string()),
            _ => {}
        }
    }
}

/// A finished demo run.
#[derive(Debug)]
pub struct DemoRun {
    pub config: PathBuf,
    pub log_dir: PathBuf,
    pub summary: Summary,
    /// How the demo's `serve` exited.
    pub status: ExitStatus,
}

/// Where the demo builds its project: `dir` when given (it must be empty or
/// new), else a fresh folder in the temp dir.
pub fn root_dir(dir: Option<&Path>) -> Result<PathBuf, DemoError> {
    match dir {
        Some(d) => {
            if d.exists()
                && std::fs::read_dir(d)
                    .map(|mut r| r.next().is_some())
                    .unwrap_or(false)
            {
                return Err(DemoError::NotEmpty(d.to_path_buf()));
            }
            Ok(d.to_path_buf())
        }
        None => {
            let base =
                std::env::temp_dir().join(format!("agent-runner-demo-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            Ok(base)
        }
    }
}

/// Scaffold the demo project under `root` and run `serve` on it for at most
/// `rounds` rounds, narrating its events to `out` as they are written.
pub fn run(root: &Path, rounds: u64, out: &mut dyn Write) -> Result<DemoRun, DemoError> {
    let cfg_path = scaffold(root)?;
    let cfg = crate::config::load(&cfg_path)?;
    let layout = Layout::new(&cfg.runtime.log_dir);
    let _ = writeln!(
        out,
        "agent-runner demo: a scratch project in {}",
        cfg.runtime.work_dir.display()
    );
    let _ = writeln!(out, "  the demo agent plays one scene per round: clean work, a dirty tree, a hang, then 'done'.");
    let exe = crate::sys::proc::self_exe().map_err(DemoError::SelfExe)?;
    let rounds = rounds.max(1).to_string();
    let mut child = Command::new(exe)
        .args(["--config"])
        .arg(&cfg_path)
        .args(["serve", "--max-rounds", &rounds])
        .current_dir(&cfg.runtime.work_dir)
        .stdin(Stdio::null())
        .spawn()
        .map_err(DemoError::Spawn)?;
    let mut offsets = Default::default();
    let mut summary = Summary::default();
    let status = loop {
        follow(&layout, &mut offsets, &mut summary, out);
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(DemoError::Wait(e)),
        }
    };
    follow(&layout, &mut offsets, &mut summary, out);
    Ok(DemoRun {
        config: cfg_path,
        log_dir: layout.log_dir,
        summary,
        status,
    })
}
