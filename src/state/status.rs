//! `status.json` (spec §4.4): the round counter's source of truth, and
//! `orphan-state.json` (§4.5).

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The persisted state after the last completed round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub round_num: u64,
    pub running: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_completed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_index: Option<u64>,
}

/// What reading status.json found.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusRead {
    Missing,
    Ok(Status),
    /// Present but not parseable into the known keys.
    Corrupt,
}

impl Status {
    pub fn read(path: &Path) -> StatusRead {
        match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StatusRead::Missing,
            Err(_) => StatusRead::Corrupt,
            Ok(bytes) => match serde_json::from_slice::<Status>(&bytes) {
                Ok(s) => StatusRead::Ok(s),
                Err(_) => StatusRead::Corrupt,
            },
        }
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let v = serde_json::to_value(self).map_err(std::io::Error::other)?;
        crate::state::atomic::write_json(path, &v)
    }
}

/// `orphan-state.json`: the last stash made of a dirty tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrphanState {
    pub round_num: u64,
    pub files: Vec<String>,
    pub stashed_ref: Option<String>,
    #[serde(default)]
    pub stash_message: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub phase: Option<String>,
}

impl OrphanState {
    pub fn read(path: &Path) -> Option<OrphanState> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let v = serde_json::to_value(self).map_err(std::io::Error::other)?;
        crate::state::atomic::write_json(path, &v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_upstream_example_and_rejects_unknown_keys() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("status.json");
        std::fs::write(&p, r#"{"round_num": 5, "running": false, "last_completed_at": "2026-11-23T22:48:43.355Z", "last_exit_code": -15, "last_duration_s": 1.2067, "phase_index": 0}"#).unwrap_or_default();
        match Status::read(&p) {
            StatusRead::Ok(s) => {
                assert_eq!(s.round_num, 5);
                assert_eq!(s.last_exit_code, Some(-15));
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&p, r#"{"round_num": 5, "running": false, "bogus": 1}"#).unwrap_or_default();
        assert_eq!(Status::read(&p), StatusRead::Corrupt);
        assert_eq!(Status::read(&d.path().join("nope")), StatusRead::Missing);
    }
}
