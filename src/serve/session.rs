//! Cross-round session resume (0.3 delta §3.8): serve keeps one session id per
//! phase for its lifetime, for agents whose manifest names a resume flag (pi's
//! `--session-id`), and hands `[flag, id]` to the round child through
//! `AGENT_RUNNER_RESUME_FLAG` / `AGENT_RUNNER_RESUME_SESSION_ID`. A first use
//! and a fresh-eyes round mint a new id; reusing one records
//! `session_resumed`.

use crate::config::Config;
use crate::fields;
use crate::state::{EventLog, Kind};
use std::collections::HashMap;

pub use crate::round::resume::{FLAG_VAR, ID_VAR};

/// Session ids by phase (`None`: the base agent), for serve's lifetime.
#[derive(Debug, Default)]
pub struct Sessions {
    ids: HashMap<Option<String>, String>,
}

impl Sessions {
    /// `(flag, id)` for this round, or `None` when the agent has no resume
    /// flag or serve did not choose the phase (rotating phases: one role's
    /// session must not bleed into another's).
    pub fn for_round(
        &mut self,
        cfg: &Config,
        phase: Option<&str>,
        fresh: bool,
        log: &EventLog,
    ) -> Option<(String, String)> {
        let agent = cfg.agent_for(phase).binary_name();
        let flag = crate::config::presets::manifest(&agent).and_then(|m| m.resume_flag)?;
        if phase.is_none() && !cfg.phases.list.is_empty() {
            return None;
        }
        let key = phase.map(str::to_string);
        let reuse = self.ids.get(&key).filter(|_| !fresh).cloned();
        let id = match reuse {
            Some(id) => {
                log.emit_or_warn(
                    Kind::SessionResumed,
                    fields! {"session_id" => id.clone(), "phase" => phase.unwrap_or("")},
                );
                id
            }
            None => {
                let id = uuid4();
                self.ids.insert(key, id.clone());
                id
            }
        };
        Some((flag.to_string(), id))
    }
}

/// A random (version 4) UUID in its usual text form.
pub fn uuid4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid4_has_the_version_and_variant_bits() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(uuid4(), u);
    }
}
