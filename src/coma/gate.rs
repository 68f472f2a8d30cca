//! The pre-round admission gate's verdict (0.3 delta §4.3): one sample
//! before each round, diffed against the previous pre-round sample (so the
//! swap-out tier is a rate), and only a **critical** verdict defers. serve
//! does the waiting (`round_deferred`, re-checks, `round_resumed`).

use crate::config::HostHealth;
use crate::detect::window::Record;
use crate::detect::Severity;
use crate::detect::{memory_pressure, Pressure};
use serde_json::{Map, Value};

/// The gate's memory across calls: the previous pre-round sample.
#[derive(Debug, Default)]
pub struct Gate {
    prev: Option<Record>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Sample now; the verdict if it is critical. The very first call has
    /// nothing to diff against, so it cannot see a swap-out rate yet.
    pub fn critical(&mut self, hh: &HostHealth) -> Option<Pressure> {
        self.check(super::sample_record(), hh)
    }

    /// [`Gate::critical`] over a given sample.
    pub fn check(&mut self, cur: Record, hh: &HostHealth) -> Option<Pressure> {
        let prev = self.prev.take().unwrap_or_default();
        let p = memory_pressure(&cur, &prev, hh);
        self.prev = Some(cur);
        p.filter(|p| p.severity == Severity::Critical)
    }
}

/// The `round_deferred` payload.
pub fn deferred_fields(p: &Pressure) -> Map<String, Value> {
    crate::fields! {"severity" => p.severity.as_str(), "signal" => p.signal, "message" => p.message}
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn only_critical_defers_and_swap_is_a_rate_between_calls() {
        let hh = super::super::test_host_health();
        let mut g = Gate::new();
        // PSI warning: no deferral
        assert!(g
            .check(
                rec(json!({"psi_some_avg10": 30.0, "psi_full_avg10": 10.0})),
                &hh
            )
            .is_none());
        let p = g.check(
            rec(json!({"psi_some_avg10": 90.0, "psi_full_avg10": 70.0})),
            &hh,
        );
        assert_eq!(p.as_ref().map(|p| p.signal), Some("psi"));
        assert_eq!(
            deferred_fields(&p.unwrap_or_else(|| panic!("critical")))
                .keys()
                .cloned()
                .collect::<Vec<_>>(),
            ["severity", "signal", "message"]
        );
        // no PSI: swap-out above the floor with MemFree low is critical, but
        // only as a difference from the previous call
        let mut g = Gate::new();
        let low =
            |sout: u64| rec(json!({"swap_sout": sout, "mem_free_mb": 4, "mem_available_mb": 500}));
        assert!(g.check(low(10 << 30), &hh).is_none(), "first call: no rate");
        let p = g.check(low((10 << 30) + (64 << 20)), &hh);
        assert_eq!(p.map(|p| p.signal), Some("swap_out_rate"));
        assert!(
            g.check(low((10 << 30) + (64 << 20)), &hh).is_none(),
            "no new swap-out"
        );
    }
}
