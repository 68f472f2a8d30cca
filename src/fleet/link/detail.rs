//! What the HTTP view's host page adds to a host's row ([`Detail`]): the
//! rounds timeline and today's usage (kept by the [`super::HostView`] as
//! events pass), sparkline samples from the relayed metrics, and the
//! current round's elapsed time against its budget, on the host's clock.

use super::Link;
use crate::witness::dashboard::model::{self, Current, HostDetail, RoundBar, Sample, Usage};
use serde::Serialize;

/// The host page's extra data (in `/api/host/<name>` as `detail`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Detail {
    pub rounds: Vec<RoundBar>,
    pub current: Option<Current>,
    pub samples: Vec<Sample>,
    pub usage_today: Option<Usage>,
}

impl Link {
    pub(super) fn detail(&self) -> Detail {
        let v = &self.view;
        let now = v.now();
        let th = v.thresholds.as_ref();
        let today = now.map(crate::timefmt::iso_ms).unwrap_or_default();
        Detail {
            rounds: v.history.rounds(),
            current: HostDetail::current_from(v.history.latest(), now, |p| {
                th.map_or(0, |t| t.budget_for(p))
            }),
            samples: now.map_or_else(Vec::new, |n| model::samples(v.metrics.iter(), n)),
            usage_today: v.history.usage_on(today.get(..10).unwrap_or("")),
        }
    }
}
