//! What a follower says when a followed file changed under it: a
//! [`Notice`] naming the file and the [`Change`] (truncated, replaced,
//! moved, gone), one line each, for the probe's `notice` frames, the
//! witness's stderr and the local readers' warnings.

use std::fmt;

/// What happened to a followed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Shorter than what was read, or refilled with other lines: read again
    /// from its start.
    Truncated,
    /// The name holds another file now (rotated, deleted and re-created):
    /// the old file's remaining lines were read, the new one is read from
    /// its start.
    Replaced,
    /// The file (as last read) is under this other name now; its remaining
    /// lines were read from there.
    Moved(String),
    /// The name is gone (removed or renamed away); its remaining lines were
    /// read when the file was still open.
    Gone,
}

/// A change to a followed file, for the reader's user to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The shard name (`events-2026-12.jsonl`).
    pub file: String,
    pub change: Change,
}

impl Notice {
    /// A short word for the change (`truncated`, `replaced`, `moved`, `gone`).
    pub fn what(&self) -> &'static str {
        match self.change {
            Change::Truncated => "truncated",
            Change::Replaced => "replaced",
            Change::Moved(_) => "moved",
            Change::Gone => "gone",
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = &self.file;
        match &self.change {
            Change::Truncated => {
                write!(f, "'{file}' was truncated; reading it again from its start")
            }
            Change::Replaced => write!(
                f,
                "'{file}' was replaced by a new file; reading the new one from its start"
            ),
            Change::Moved(to) => write!(
                f,
                "'{file}' was renamed to '{to}'; its remaining lines were read from there"
            ),
            Change::Gone => write!(f, "'{file}' was removed or renamed away"),
        }
    }
}
