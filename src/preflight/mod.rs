//! The local `doctor`: a read-only pre-flight that never starts the agent
//! (it may create the log_dir to prove it writable, as the startup battery
//! does). It gathers, for one config:
//! - the startup battery (`round::battery`), each check with its `permanent`
//!   flag;
//! - the phase windows that overlap (`config::overlap`);
//! - the phase plan: which phase each of the next N rounds would pick, and
//!   when a paused one resumes (`serve::schedule_gate`);
//! - the cooperative-stop agents and the SIGTERM grace the agent gets;
//! - the memory and cgroup report (`memory`);
//! - every config key with its resolved value and where it came from
//!   (`provenance`: default, the file, or the file with a preset's value);
//! - the config's warnings.
//!
//! The JSON keeps the Python tool's `doctor --json` keys (`checks`,
//! `overlaps`, `plan`, `cgroup`, `sigterm_grace`) and adds ours. Unlike
//! upstream (which exits 0 whatever), [`Report::ok`] is false when a check
//! failed, and the verb exits non-zero then.

mod memory;
mod provenance;
mod text;

pub use provenance::{Resolved, Source};

use crate::config::overlap::{phase_window_overlaps, Overlap};
use crate::config::Config;
use crate::round::battery;
use crate::serve::schedule_gate::{self, Selection};
use serde::Serialize;
use serde_json::{json, Value};

/// One startup check as `doctor --json` shows it (upstream's field names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub reason: String,
    pub how_to_fix: String,
    pub permanent: bool,
}

/// One round of the phase plan (upstream's field names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStep {
    pub round: u64,
    pub phase: Option<String>,
    pub paused: bool,
    pub resume_phase: Option<String>,
    pub resume_at: Option<String>,
    pub resume_timezone: Option<String>,
    pub skipped: Vec<String>,
    pub active_window: Option<String>,
}

/// The stop signal and grace the agent gets (upstream's field names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SigtermGrace {
    pub agent: String,
    pub cooperative: bool,
    pub signal: Option<String>,
    pub resolved_s: u64,
}

/// Everything `doctor` reports.
#[derive(Debug, Clone)]
pub struct Report {
    pub checks: Vec<Check>,
    pub overlaps: Vec<Overlap>,
    pub plan: Vec<PlanStep>,
    /// The agents that stop cooperatively, with their signal.
    pub cooperative: Vec<(String, String)>,
    pub sigterm_grace: SigtermGrace,
    /// `[agent] name`, the label shown with the binary.
    pub agent_name: Option<String>,
    pub memory: memory::MemoryReport,
    pub config: Vec<Resolved>,
    pub warnings: Vec<String>,
}

impl Report {
    /// No check failed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        json!({
            "checks": self.checks,
            "overlaps": self.overlaps,
            "plan": self.plan,
            "cgroup": self.memory.cgroup_json(),
            "sigterm_grace": self.sigterm_grace,
            "ok": self.ok(),
            "agent_name": self.agent_name,
            "cooperative_presets": self.cooperative.iter().map(|(a, s)| (a.clone(), Value::from(s.clone()))).collect::<serde_json::Map<_, _>>(),
            "memory": self.memory.to_json(),
            "config": self.config,
            "warnings": self.warnings,
        })
    }

    /// The text form (upstream's shape, then our sections).
    pub fn render_text(&self) -> String {
        text::render(self)
    }
}

/// Build the report for `cfg`: the battery, the overlaps, the plan of the
/// `rounds` rounds after the last one recorded (at `now_epoch`), the stop
/// settings, the memory report, the resolved config and the warnings.
pub fn report(cfg: &Config, rounds: u64, now_epoch: i64) -> Report {
    let checks = battery::run(cfg)
        .into_iter()
        .map(|c| Check {
            name: c.name,
            ok: c.ok,
            reason: c.reason,
            how_to_fix: c.fix,
            permanent: c.permanent,
        })
        .collect();
    let agent = &cfg.agent;
    let binary = agent.binary_name();
    let cooperative = crate::config::presets::AGENT_MANIFESTS
        .iter()
        .filter_map(|m| Some((m.agent.to_string(), m.cooperative_stop?.to_string())))
        .collect();
    let coop = crate::config::presets::manifest(&binary)
        .and_then(|m| m.cooperative_stop)
        .map(str::to_string);
    Report {
        checks,
        overlaps: phase_window_overlaps(cfg),
        plan: plan(cfg, rounds, now_epoch),
        cooperative,
        sigterm_grace: SigtermGrace {
            agent: binary,
            cooperative: coop.is_some(),
            signal: coop,
            resolved_s: crate::round::stop_grace(agent).as_secs(),
        },
        agent_name: agent.name.clone(),
        memory: memory::report(cfg),
        config: provenance::resolve(cfg),
        warnings: crate::round::config_warnings(cfg),
    }
}

/// The next `rounds` rounds after the last one `status.json` records.
fn plan(cfg: &Config, rounds: u64, now_epoch: i64) -> Vec<PlanStep> {
    use crate::state::status::{Status, StatusRead};
    let layout = crate::state::Layout::new(&cfg.runtime.log_dir);
    let last = match Status::read(&layout.status()) {
        StatusRead::Ok(s) => s.round_num,
        _ => 0,
    };
    (last + 1..=last + rounds)
        .map(|r| step(cfg, r, now_epoch))
        .collect()
}

fn step(cfg: &Config, round: u64, now_epoch: i64) -> PlanStep {
    let rotation = || cfg.phase_for_round(round).map(|(_, p)| p.to_string());
    match schedule_gate::select(cfg, round, now_epoch, &|_| false) {
        Ok(Selection::Run {
            phase,
            skipped,
            active_window,
        }) => PlanStep {
            round,
            phase: phase.or_else(rotation),
            paused: false,
            resume_phase: None,
            resume_at: None,
            resume_timezone: None,
            skipped,
            active_window: Some(active_window).filter(|w| !w.is_empty()),
        },
        Ok(Selection::Pause { pause, phase }) => PlanStep {
            round,
            phase: None,
            paused: true,
            resume_phase: phase,
            resume_at: Some(pause.resume_at).filter(|t| !t.is_empty()),
            resume_timezone: Some(pause.timezone),
            skipped: Vec::new(),
            active_window: Some(pause.active_window).filter(|w| !w.is_empty()),
        },
        // A schedule that cannot be evaluated: serve refuses to start.
        Err(e) => PlanStep {
            round,
            phase: None,
            paused: true,
            resume_phase: None,
            resume_at: None,
            resume_timezone: None,
            skipped: Vec::new(),
            active_window: Some(format!("schedule error: {e}")),
        },
    }
}
