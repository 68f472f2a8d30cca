//! The cgroup v2 probe serve runs once at boot (0.3 delta §4.6): the
//! smallest finite `memory.max` / `memory.swap.max` / `memory.high` over the
//! own cgroup and its ancestors, delegation, the `defer` decision with its
//! four plausibility guards, the advisories, and the brake's reported
//! state. Read-only: nothing is written here. Without cgroup v2 (or without
//! the memory controller) every limit reads as unlimited and nothing defers.

use crate::sys::{cgroup, mem};
use serde_json::{Map, Value};

/// Below this share of host swap, a `memory.swap.max` earns an advisory.
pub const SWAP_CAP_ADVISORY_PCT: f64 = 25.0;

/// The hint when the brake cannot write `memory.high` (upstream's words).
pub const UNDELEGATED_HINT: &str = "memory.high on this cgroup is not writable by this process; the soft-brake is inert. Run serve as a user-mode unit (`systemctl --user` + `loginctl enable-linger`) or as a root system unit.";

/// What the probe found, and what follows from it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupPlan {
    /// The own cgroup (`None`: no cgroup v2 here).
    pub leaf: Option<String>,
    /// The root's `cgroup.controllers` lists `memory`.
    pub memory_controller: bool,
    pub memory_max: Option<u64>,
    pub memory_swap_max: Option<u64>,
    /// The ancestor whose `memory.max` binds (possibly the leaf).
    pub bounding: Option<String>,
    pub memory_high: Option<u64>,
    pub delegated: Option<bool>,
    pub mem_total_bytes: Option<u64>,
    pub swap_total_bytes: Option<u64>,
    pub swap_cap_pct: Option<f64>,
    /// Leave a sustained critical streak to the kernel's cgroup OOM.
    pub defer: bool,
    pub advisory: Option<String>,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Probe this process's cgroup (`brake_on`: `[…brake] memory_high`).
pub fn probe(brake_on: bool) -> CgroupPlan {
    let mi = mem::meminfo();
    let leaf = cgroup::own_path();
    let mut p = CgroupPlan {
        memory_controller: leaf.is_some() && cgroup::memory_controller(),
        mem_total_bytes: mi.total_bytes(),
        swap_total_bytes: mi.swap_total_bytes(),
        ..Default::default()
    };
    if let Some(l) = &leaf {
        let anc = cgroup::ancestors(l);
        if let Some((v, at)) = cgroup::min_finite(&anc, "memory.max") {
            p.memory_max = Some(v);
            p.bounding = Some(at);
        }
        p.memory_swap_max = cgroup::min_finite(&anc, "memory.swap.max").map(|x| x.0);
        p.memory_high = cgroup::min_finite(&anc, "memory.high").map(|x| x.0);
        p.delegated = cgroup::delegated(l);
    }
    p.leaf = leaf;
    p.decide(brake_on);
    p
}

impl CgroupPlan {
    /// Compute `swap_cap_pct`, `defer` and the advisory from the facts.
    pub fn decide(&mut self, brake_on: bool) {
        self.swap_cap_pct = match (self.memory_swap_max, self.swap_total_bytes) {
            (Some(m), Some(t)) if t > 0 => Some(round1(100.0 * m as f64 / t as f64)),
            _ => None,
        };
        // the four guards: both caps finite (MemorySwapMax=0 included), a
        // memory cap below host RAM, a swap cap at most host swap
        self.defer = match (self.memory_max, self.memory_swap_max) {
            (Some(m), Some(s)) => {
                self.mem_total_bytes.is_some_and(|t| m < t)
                    && self.swap_total_bytes.is_some_and(|t| s <= t)
            }
            _ => false,
        };
        let mut adv: Vec<String> = Vec::new();
        if self.swap_cap_pct.is_some_and(|p| p < SWAP_CAP_ADVISORY_PCT) {
            adv.push("cgroup memory.swap.max is far below host swap; the mid-round floor may terminate rounds the kernel would have contained -- consider bounding both memory.max and memory.swap.max, or set [monitor.host_health.pressure] in_round_terminate=false".into());
        }
        let own_scope =
            self.memory_max.is_some() && self.memory_high.is_none() && self.bounding == self.leaf;
        if own_scope {
            let mut hint = String::from("memory.max is set on this cgroup without memory.high -- add memory.high (below memory.max) for graceful throttling before an OOM kill");
            if !self.defer {
                hint.push_str("; bound memory.swap.max (at or below host swap) too, or set [monitor.host_health.pressure] in_round_terminate=false, so the throttle's PSI-full rise doesn't trip the mid-round floor");
            }
            adv.push(hint);
        }
        if (brake_on && self.delegated != Some(true))
            || (self.delegated == Some(false) && (self.memory_high.is_some() || own_scope))
        {
            adv.push(UNDELEGATED_HINT.into());
        }
        self.advisory = (!adv.is_empty()).then(|| adv.join("; "));
    }

    /// Whether a round running `argv` defers to the cgroup: never for a
    /// containerised agent (its memory lives in the container runtime's
    /// cgroup, not ours).
    pub fn defer_for(&self, argv: &[String]) -> bool {
        self.defer && !is_container_run(argv)
    }

    /// The brake may write `memory.high`: on, and the leaf is delegated.
    pub fn brake_armed(&self, brake_on: bool) -> bool {
        brake_on && self.delegated == Some(true)
    }

    /// The `host_cgroup_memory_limit` payload, in upstream order.
    pub fn event_fields(&self) -> Map<String, Value> {
        crate::fields! {
            "memory_max" => self.memory_max,
            "memory_swap_max" => self.memory_swap_max,
            "cgroup_path" => self.leaf,
            "defer" => self.defer,
            "swap_total_bytes" => self.swap_total_bytes,
            "swap_cap_pct" => self.swap_cap_pct,
            "memory_high" => self.memory_high,
            "advisory" => self.advisory,
            "cgroup_delegated" => self.delegated,
        }
    }
}

/// `off | armed | inert(undelegated) | inert(no cgroup v2)` (upstream's
/// `brake_report_state`: an unknown delegation reads as no cgroup v2).
pub fn brake_state(brake_on: bool, delegated: Option<bool>) -> &'static str {
    match (brake_on, delegated) {
        (false, _) => "off",
        (true, Some(true)) => "armed",
        (true, Some(false)) => "inert(undelegated)",
        (true, None) => "inert(no cgroup v2)",
    }
}

/// True if `argv` runs a container (`docker run` / `podman run`, also
/// behind `sudo`, `env` or global flags).
pub fn is_container_run(argv: &[String]) -> bool {
    let base = |a: &str| a.rsplit('/').next().unwrap_or(a).to_string();
    argv.iter().enumerate().any(|(i, a)| {
        matches!(base(a).as_str(), "docker" | "podman")
            && argv[i + 1..]
                .iter()
                .find(|x| !x.starts_with('-'))
                .is_some_and(|x| x == "run")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn plan(max: Option<u64>, swap_max: Option<u64>, total: u64, swap: u64) -> CgroupPlan {
        let mut p = CgroupPlan {
            leaf: Some("/system.slice/ar.service".into()),
            memory_max: max,
            memory_swap_max: swap_max,
            bounding: max.map(|_| "/system.slice/ar.service".into()),
            memory_high: Some(300 * MIB),
            delegated: Some(true),
            mem_total_bytes: Some(total),
            swap_total_bytes: Some(swap),
            ..Default::default()
        };
        p.decide(false);
        p
    }

    #[test]
    fn defer_needs_all_four_guards() {
        // the field shape: MemoryMax=320M, MemorySwapMax=160M on a 1 GB host with 512 MiB swap
        assert!(plan(Some(320 * MIB), Some(160 * MIB), 1024 * MIB, 512 * MIB).defer);
        // MemorySwapMax=0 is finite
        assert!(plan(Some(320 * MIB), Some(0), 1024 * MIB, 0).defer);
        // 1: memory.max unlimited
        assert!(!plan(None, Some(160 * MIB), 1024 * MIB, 512 * MIB).defer);
        // 2: memory.swap.max unlimited (MemoryMax without MemorySwapMax)
        assert!(!plan(Some(320 * MIB), None, 1024 * MIB, 512 * MIB).defer);
        // 3: a copy-pasted MemoryMax=1G on a 462 MB host can never bind
        assert!(!plan(Some(1024 * MIB), Some(0), 462 * MIB, 512 * MIB).defer);
        assert!(!plan(Some(462 * MIB), Some(0), 462 * MIB, 512 * MIB).defer);
        // 4: a swap cap above host swap cannot bind either
        assert!(!plan(Some(320 * MIB), Some(2048 * MIB), 1024 * MIB, 512 * MIB).defer);
    }

    #[test]
    fn advisories_swap_cap_memory_high_and_delegation() {
        let p = plan(Some(320 * MIB), Some(64 * MIB), 1024 * MIB, 512 * MIB);
        assert_eq!(p.swap_cap_pct, Some(12.5));
        assert!(
            p.advisory
                .as_deref()
                .is_some_and(|a| a.starts_with("cgroup memory.swap.max is far below host swap")),
            "{:?}",
            p.advisory
        );
        let mut p = plan(Some(320 * MIB), Some(256 * MIB), 1024 * MIB, 512 * MIB);
        assert_eq!(p.advisory, None);
        p.memory_high = None;
        p.decide(false);
        let a = p.advisory.clone().unwrap_or_default();
        assert!(
            a.starts_with("memory.max is set on this cgroup without memory.high"),
            "{a}"
        );
        assert!(
            !a.contains("bound memory.swap.max"),
            "deferring: no PSI caveat: {a}"
        );
        p.memory_swap_max = None;
        p.decide(false);
        assert!(p
            .advisory
            .unwrap_or_default()
            .contains("bound memory.swap.max"));
        // an inherited bound: no "add MemoryHigh"
        let mut p = plan(Some(320 * MIB), Some(256 * MIB), 1024 * MIB, 512 * MIB);
        p.memory_high = None;
        p.bounding = Some("/system.slice".into());
        p.decide(false);
        assert_eq!(p.advisory, None);
        // the brake on but not delegated
        p.delegated = Some(false);
        p.decide(true);
        assert_eq!(p.advisory.as_deref(), Some(UNDELEGATED_HINT));
        assert!(!p.brake_armed(true));
        p.delegated = Some(true);
        p.decide(true);
        assert_eq!(p.advisory, None);
        assert!(p.brake_armed(true));
        assert!(!p.brake_armed(false));
    }

    #[test]
    fn brake_states_and_containers() {
        assert_eq!(brake_state(false, Some(true)), "off");
        assert_eq!(brake_state(true, Some(true)), "armed");
        assert_eq!(brake_state(true, Some(false)), "inert(undelegated)");
        assert_eq!(brake_state(true, None), "inert(no cgroup v2)");
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(is_container_run(&v(&[
            "docker", "run", "-i", "img", "claude"
        ])));
        assert!(is_container_run(&v(&[
            "sudo",
            "/usr/bin/podman",
            "--remote",
            "run",
            "x"
        ])));
        assert!(!is_container_run(&v(&["docker", "exec", "x", "run"])));
        assert!(!is_container_run(&v(&["claude", "-p"])));
        let p = plan(Some(320 * MIB), Some(0), 1024 * MIB, 0);
        assert!(p.defer_for(&v(&["claude"])));
        assert!(!p.defer_for(&v(&["docker", "run", "img"])));
    }

    #[test]
    fn event_fields_in_upstream_order() {
        let p = plan(Some(320 * MIB), Some(0), 1024 * MIB, 0);
        let keys: Vec<String> = p.event_fields().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "memory_max",
                "memory_swap_max",
                "cgroup_path",
                "defer",
                "swap_total_bytes",
                "swap_cap_pct",
                "memory_high",
                "advisory",
                "cgroup_delegated"
            ]
        );
    }
}
