//! `doctor`'s memory and cgroup report.
//!
//! ---- MEMORY REPORT: not available in this build ----
//! The memory defenses (the host's memory facts and the cgroup v2 probe,
//! `sys::mem*`) are not part of this build yet. Until they are, `doctor`
//! says so here instead of guessing: the upstream-shaped `cgroup` block is
//! `null` in the JSON and the text says "not available in this build".
//! When they land, this module reads the cgroup path, `memory.max`,
//! `memory.high`, delegation and the brake state from them.

use crate::config::Config;
use serde_json::{json, Value};

/// What the memory report knows.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryReport {
    /// Why there is nothing to report, when there is nothing.
    pub unavailable: Option<&'static str>,
    /// `[monitor.host_health.brake] memory_high` as configured.
    pub brake_configured: bool,
}

/// The text the report gives when the memory defenses are not built in.
pub const UNAVAILABLE: &str = "not available in this build";

pub fn report(cfg: &Config) -> MemoryReport {
    MemoryReport {
        unavailable: Some(UNAVAILABLE),
        brake_configured: cfg.monitor.host_health.brake.memory_high,
    }
}

impl MemoryReport {
    /// Upstream's `cgroup` block: `cgroup_path`, `memory_max`,
    /// `memory_high`, `delegated` (null when unknown) and `brake` (`off`,
    /// `armed` or `inert(<reason>)`).
    pub fn cgroup_json(&self) -> Value {
        json!({
            "cgroup_path": null,
            "memory_max": null,
            "memory_high": null,
            "delegated": null,
            "brake": self.brake(),
        })
    }

    fn brake(&self) -> String {
        match (self.brake_configured, self.unavailable) {
            (false, _) => "off".to_string(),
            (true, Some(why)) => format!("inert({why})"),
            (true, None) => "armed".to_string(),
        }
    }

    /// Our `memory` block.
    pub fn to_json(&self) -> Value {
        match self.unavailable {
            Some(why) => {
                json!({"available": false, "reason": why, "brake_configured": self.brake_configured})
            }
            None => json!({"available": true, "brake_configured": self.brake_configured}),
        }
    }

    /// The text lines (indented by the caller).
    pub fn lines(&self) -> Vec<String> {
        let mut l: Vec<String> = self.unavailable.iter().map(|w| w.to_string()).collect();
        l.push(format!("brake: {}", self.brake()));
        l
    }
}
