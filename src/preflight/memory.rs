//! `doctor`'s memory and cgroup report, read-only, from the same reads the
//! coma preventer makes (`sys::mem`, `sys::cgroup`, so the
//! `AGENT_RUNNER_SYS_ROOT` test hook reaches it too):
//!
//! - the cgroup v2 probe serve runs at boot ([`crate::coma::plan`]): the
//!   own cgroup, the smallest finite `memory.max` / `memory.swap.max` /
//!   `memory.high` over it and its ancestors, delegation, whether a
//!   sustained critical streak would be left to the kernel's OOM (the four
//!   guards), the advisories, and the brake's state (`off`, `armed`,
//!   `inert(undelegated)`, `inert(no cgroup v2)`);
//! - the memory verdict now: one sample through the signal ladder
//!   ([`crate::detect::memory_pressure`]), as serve's first pre-round check
//!   sees it (one sample has no swap-out rate), and what the admission gate
//!   would do with it.
//!
//! Nothing is written and no event is emitted (upstream's discipline).

use crate::coma::plan::{self, CgroupPlan};
use crate::config::Config;
use crate::detect::window::Record;
use crate::detect::{memory_pressure, Pressure, Severity};
use crate::state::pyrepr::{py_float, py_str};
use serde_json::{json, Value};

/// What the memory report found.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryReport {
    pub plan: CgroupPlan,
    /// `[monitor.host_health.brake] memory_high` as configured.
    pub brake_configured: bool,
    /// The sample the verdict was made from (`mem_available_mb`,
    /// `mem_free_mb`, `psi_*`; null where unreadable).
    pub sample: Record,
    /// The ladder's verdict (`None`: healthy, or nothing readable).
    pub verdict: Option<Pressure>,
}

/// Probe the cgroup and sample the host for `cfg`.
pub fn report(cfg: &Config) -> MemoryReport {
    let brake_on = cfg.monitor.host_health.brake.memory_high;
    let sample = crate::coma::sample_record();
    let verdict = memory_pressure(&sample, &Record::new(), &cfg.monitor.host_health);
    MemoryReport {
        plan: plan::probe(brake_on),
        brake_configured: brake_on,
        sample,
        verdict,
    }
}

fn num(r: &Record, k: &str) -> Option<f64> {
    r.get(k).and_then(Value::as_f64)
}

impl MemoryReport {
    /// `off | armed | inert(undelegated) | inert(no cgroup v2)`.
    pub fn brake(&self) -> &'static str {
        plan::brake_state(self.brake_configured, self.plan.delegated)
    }

    /// `healthy`, `warning`, `critical`, or `unknown` when no tier of the
    /// ladder could be read.
    pub fn severity(&self) -> &'static str {
        match &self.verdict {
            Some(p) if p.severity == Severity::Critical => "critical",
            Some(_) => "warning",
            None if self.readable() => "healthy",
            None => "unknown",
        }
    }

    fn readable(&self) -> bool {
        num(&self.sample, "psi_some_avg10").is_some()
            || (num(&self.sample, "mem_free_mb").is_some()
                && num(&self.sample, "mem_available_mb").is_some())
    }

    /// What serve's admission gate would do now: only critical defers.
    pub fn gate(&self) -> &'static str {
        if self.severity() == "critical" {
            "defer"
        } else {
            "admit"
        }
    }

    /// Upstream's `cgroup` block (`cgroup_path`, `memory_max`,
    /// `memory_high`, `delegated`, `brake`), then the rest of the probe.
    pub fn cgroup_json(&self) -> Value {
        let p = &self.plan;
        json!({
            "cgroup_path": p.leaf,
            "memory_max": p.memory_max,
            "memory_high": p.memory_high,
            "delegated": p.delegated,
            "brake": self.brake(),
            "cgroup_v2": p.leaf.is_some(),
            "memory_controller": p.memory_controller,
            "memory_swap_max": p.memory_swap_max,
            "bounding_cgroup_path": p.bounding,
            "defer": p.defer,
            "advisory": p.advisory,
        })
    }

    /// Our `memory` block: the verdict now and the sample it came from.
    pub fn to_json(&self) -> Value {
        let v = self.verdict.as_ref();
        let s = |k: &str| self.sample.get(k).cloned().unwrap_or(Value::Null);
        json!({
            "severity": self.severity(),
            "signal": v.map(|p| p.signal),
            "message": v.map(|p| p.message.clone()),
            "gate": self.gate(),
            "sample": {
                "mem_available_mb": s("mem_available_mb"),
                "mem_free_mb": s("mem_free_mb"),
                "psi_some_avg10": s("psi_some_avg10"),
                "psi_full_avg10": s("psi_full_avg10"),
            },
            "brake_configured": self.brake_configured,
        })
    }

    /// The `cgroup:` lines, upstream's (Python's `str()` of each value, and
    /// its hint when the leaf is not delegated and a brake or limit could
    /// apply); indented by the caller.
    pub fn cgroup_lines(&self) -> Vec<String> {
        let c = self.cgroup_json();
        let mut l: Vec<String> = [
            "cgroup_path",
            "memory_max",
            "memory_high",
            "delegated",
            "brake",
        ]
        .iter()
        .map(|k| format!("{k}: {}", py_str(&c[*k])))
        .collect();
        let p = &self.plan;
        if p.delegated == Some(false)
            && (self.brake() != "off" || p.memory_high.is_some() || p.memory_max.is_some())
        {
            l.push(format!("hint: {}", plan::UNDELEGATED_HINT));
        }
        l
    }

    /// Our `memory:` lines: the probe in words, the advisories, the verdict.
    pub fn memory_lines(&self) -> Vec<String> {
        let p = &self.plan;
        let mut l = Vec::new();
        match &p.leaf {
            None => l.push(format!(
                "cgroup v2: not here (no {}/cgroup.controllers): no limit is read, a critical streak is never left to the kernel's OOM",
                crate::sys::cgroup::MOUNT
            )),
            Some(leaf) => {
                let bytes = |v: Option<u64>| v.map_or("unlimited".to_string(), mib);
                l.push(format!(
                    "cgroup v2: {leaf} (memory controller {})",
                    if p.memory_controller { "on" } else { "off" }
                ));
                l.push(format!(
                    "limits: memory.max {}{}, memory.swap.max {}, memory.high {}",
                    bytes(p.memory_max),
                    p.bounding
                        .as_ref()
                        .filter(|b| Some(*b) != p.leaf.as_ref())
                        .map(|b| format!(" (set on {b})"))
                        .unwrap_or_default(),
                    bytes(p.memory_swap_max),
                    bytes(p.memory_high),
                ));
                l.push(format!(
                    "delegated: {}",
                    match p.delegated {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "unknown",
                    }
                ));
                l.push(format!(
                    "defer to the kernel's OOM: {}",
                    if p.defer { "yes" } else { "no" }
                ));
            }
        }
        l.push(format!("brake: {}", self.brake()));
        if let Some(a) = &p.advisory {
            l.push(format!("advisory: {a}"));
        }
        let verdict = match &self.verdict {
            Some(v) => format!("{} ({}): {}", self.severity(), v.signal, v.message),
            None => self.severity().to_string(),
        };
        l.push(format!("verdict: {verdict}; {}", self.sample_words()));
        l.push(match self.gate() {
            "defer" => "gate: serve would defer the next round (round_deferred) until the host is no longer critical".into(),
            _ => "gate: serve would start the next round".into(),
        });
        l
    }

    /// The sample in words (`psi some 0.0 full 0.0, MemAvailable 600 MB,
    /// MemFree 300 MB`), unreadable values left out.
    fn sample_words(&self) -> String {
        let s = &self.sample;
        let mut w = Vec::new();
        if let (Some(some), Some(full)) = (num(s, "psi_some_avg10"), num(s, "psi_full_avg10")) {
            w.push(format!(
                "PSI memory some avg10={} full avg10={}",
                py_float(some),
                py_float(full)
            ));
        } else {
            w.push("no PSI".to_string());
        }
        for (k, name) in [
            ("mem_available_mb", "MemAvailable"),
            ("mem_free_mb", "MemFree"),
        ] {
            if let Some(v) = s.get(k).and_then(Value::as_u64) {
                w.push(format!("{name} {v} MB"));
            }
        }
        w.join(", ")
    }
}

fn mib(b: u64) -> String {
    format!(
        "{} MiB",
        py_float((b as f64 / 1_048_576.0 * 10.0).round() / 10.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_of(plan: CgroupPlan, brake: bool, sample: Value) -> MemoryReport {
        let sample = sample.as_object().cloned().unwrap_or_default();
        let hh = crate::coma::test_host_health();
        MemoryReport {
            verdict: memory_pressure(&sample, &Record::new(), &hh),
            plan,
            brake_configured: brake,
            sample,
        }
    }

    #[test]
    fn severity_gate_and_brake_from_the_facts() {
        let none = report_of(CgroupPlan::default(), true, json!({}));
        assert_eq!(none.severity(), "unknown");
        assert_eq!(none.gate(), "admit");
        assert_eq!(none.brake(), "inert(no cgroup v2)");
        assert_eq!(
            none.cgroup_lines(),
            [
                "cgroup_path: None",
                "memory_max: None",
                "memory_high: None",
                "delegated: None",
                "brake: inert(no cgroup v2)"
            ]
        );
        let crit = report_of(
            CgroupPlan::default(),
            false,
            json!({"psi_some_avg10": 90.0, "psi_full_avg10": 70.0}),
        );
        assert_eq!(crit.severity(), "critical");
        assert_eq!(crit.gate(), "defer");
        assert_eq!(crit.to_json()["signal"], "psi");
        let ok = report_of(
            CgroupPlan::default(),
            false,
            json!({"mem_free_mb": 300, "mem_available_mb": 600}),
        );
        assert_eq!(ok.severity(), "healthy");
        assert!(ok.memory_lines().contains(
            &"verdict: healthy; no PSI, MemAvailable 600 MB, MemFree 300 MB".to_string()
        ));
        let undelegated = report_of(
            CgroupPlan {
                leaf: Some("/a.service".into()),
                memory_max: Some(320 << 20),
                delegated: Some(false),
                ..Default::default()
            },
            false,
            json!({}),
        );
        assert_eq!(undelegated.brake(), "off");
        assert_eq!(
            undelegated.cgroup_lines().last().map(String::as_str),
            Some(format!("hint: {}", plan::UNDELEGATED_HINT).as_str())
        );
        assert!(undelegated.memory_lines().contains(
            &"limits: memory.max 320.0 MiB, memory.swap.max unlimited, memory.high unlimited"
                .to_string()
        ));
    }
}
