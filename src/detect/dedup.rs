//! Per-episode alert de-duplication.
//!
//! An alert fires when its condition starts and again only after it cleared
//! (was absent for at least one poll). Episode identity follows upstream
//! 0.3.14: `hung` by round, `orphan_chain` by last round, `rate_limit_active`
//! by agent and reset time, `anomaly_repetitive_active` by tool and target,
//! `supervisor_stale` by last event ts, every other detector by its name. So a
//! moving number in the context (`hung`'s `elapsed_s`) never re-fires an alert.
//!
//! One exception: an episode raised notify-only (the first-round form of
//! `oauth_fail`) that later carries an auto-stop is fresh again, once, so the
//! stop is not swallowed by the episode that only notified.

use super::{Alert, AutoAction};
use std::collections::BTreeMap;

/// The identity of an alert's episode.
pub fn identity(a: &Alert) -> String {
    let fields: &[&str] = match a.detector {
        "hung" => &["round_num"],
        "orphan_chain" => &["last_round"],
        "rate_limit_active" => &["agent", "throttled_until_iso"],
        "anomaly_repetitive_active" => &["latest_tool", "latest_target"],
        "supervisor_stale" => &["last_ts"],
        _ => &[],
    };
    if fields.is_empty() {
        return a.detector.to_string();
    }
    let parts: Vec<String> = fields
        .iter()
        .map(|k| {
            format!(
                "{k}={}",
                a.context
                    .get(*k)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "null".into())
            )
        })
        .collect();
    format!("{}:{}", a.detector, parts.join("|"))
}

/// The result of one poll through the de-duplicator.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Alerts whose episode starts this poll: print, record, maybe auto-stop.
    pub fresh: Vec<Alert>,
    /// Alerts still active from an earlier poll (not re-announced).
    pub ongoing: Vec<Alert>,
    /// Episodes that were active and are gone: (identity, detector).
    pub cleared: Vec<(String, &'static str)>,
}

/// Active episodes carried between polls.
#[derive(Debug, Default, Clone)]
pub struct Dedup {
    /// Identity → (detector, whether the episode was announced with an
    /// auto-stop).
    active: BTreeMap<String, (&'static str, bool)>,
}

impl Dedup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one poll's alerts.
    pub fn update(&mut self, alerts: Vec<Alert>) -> Verdict {
        let mut v = Verdict::default();
        let mut now_active = BTreeMap::new();
        for a in alerts {
            let id = identity(&a);
            if now_active.contains_key(&id) {
                continue;
            }
            let stops = a.auto_action == AutoAction::StopService;
            match self.active.get(&id) {
                Some(&(_, stopped)) if stopped || !stops => {
                    now_active.insert(id, (a.detector, stopped));
                    v.ongoing.push(a);
                }
                _ => {
                    now_active.insert(id, (a.detector, stops));
                    v.fresh.push(a);
                }
            }
        }
        for (id, &(det, _)) in &self.active {
            if !now_active.contains_key(id) {
                v.cleared.push((id.clone(), det));
            }
        }
        self.active = now_active;
        v
    }

    /// Forget an episode so it fires again on the next poll (a stop that is
    /// still draining gets another attempt).
    pub fn rearm(&mut self, alert: &Alert) {
        self.active.remove(&identity(alert));
    }

    /// Identities currently active.
    pub fn active(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.active.iter().map(|(k, v)| (k.as_str(), v.0))
    }
}
