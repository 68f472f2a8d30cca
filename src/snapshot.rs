//! Reading one project's log_dir at an instant: the [`Snapshot`] that peek,
//! watch, the local monitor, the HTTP page and the remote `probe` share, and
//! [`Source`], which keeps reading it incrementally between polls.
//!
//! Gathering reads only the end of the logs ([`RECENT_EVENTS`] events, the
//! newest metrics, the newest round logs), never the whole history; a
//! [`Source`] after its first read costs only what was appended.

use crate::detect::window::{Record, Thresholds, Window};
use crate::state::reader::{self, EventTail, Line};
use crate::state::Layout;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};

/// Events read back from the end of the log for peek and for a monitor's
/// first poll, and the size of the monitor's rolling buffer. Enough for every
/// detector's look-back (10 exits, 5 rounds, streaks) with room for progress
/// heartbeats. (Upstream's monitor keeps 20,000 events but reads the whole
/// history to fill them; we read only these.)
pub const RECENT_EVENTS: usize = 2000;
/// Metrics samples read back from the end.
pub const RECENT_METRICS: usize = 512;
/// Newest round logs tailed for the detectors.
pub const TAIL_FILES: usize = 20;
/// Lines per round log tail.
pub const TAIL_LINES: usize = 200;
/// What was read from a log_dir at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub events: Vec<Record>,
    pub metrics: Vec<Record>,
    pub log_tails: BTreeMap<u64, String>,
    pub status: Option<Value>,
    pub orphan: Option<Value>,
    pub now: DateTime<Utc>,
    /// Corrupt lines skipped while reading.
    pub corrupt: u64,
}

impl Snapshot {
    /// The detectors' view of this snapshot under `thresholds`.
    pub fn window<'a>(&'a self, thresholds: &'a Thresholds) -> Window<'a> {
        Window {
            events: &self.events,
            metrics: &self.metrics,
            log_tails: &self.log_tails,
            status: self.status.as_ref(),
            now: self.now,
            thresholds,
        }
    }
}

fn read_json(path: &std::path::Path) -> Option<Value> {
    let b = std::fs::read(path).ok()?;
    serde_json::from_slice(&b).ok()
}

/// The newest metrics samples, oldest first.
pub fn read_metrics(layout: &Layout) -> std::io::Result<Vec<Record>> {
    let shards = reader::shard_files(&layout.log_dir, "metrics-");
    Ok(reader::tail_last_n_in(&shards, &[], RECENT_METRICS)?
        .lines
        .into_iter()
        .map(|l| l.value)
        .collect())
}

/// Tails of the newest [`TAIL_FILES`] round logs (by round number, which is
/// the order they were written in; no per-file `stat`), keyed by round.
pub fn read_log_tails(layout: &Layout) -> BTreeMap<u64, String> {
    let logs = layout.agent_logs();
    let skip = logs.len().saturating_sub(TAIL_FILES);
    logs.into_iter()
        .skip(skip)
        .filter_map(|(n, p)| Some((n, reader::tail_text(&p, TAIL_LINES).ok()?)))
        .collect()
}

/// Read everything but the events (which callers tail themselves).
pub fn gather_rest(
    layout: &Layout,
    events: Vec<Record>,
    corrupt: u64,
) -> std::io::Result<Snapshot> {
    Ok(Snapshot {
        events,
        metrics: read_metrics(layout)?,
        log_tails: read_log_tails(layout),
        status: read_json(&layout.status()),
        orphan: read_json(&layout.orphan_state()),
        now: Utc::now(),
        corrupt,
    })
}

/// One-shot read of a log_dir (peek, `monitor --once`, the HTTP page).
pub fn gather(layout: &Layout) -> std::io::Result<Snapshot> {
    let t = reader::tail_last_n(&layout.log_dir, &[], RECENT_EVENTS)?;
    let events = t.lines.into_iter().map(|l: Line| l.value).collect();
    gather_rest(layout, events, t.corrupt)
}

/// The monitor's view of a log_dir, carried between polls: the newest
/// events, then what is appended, followed by file identity (a rotated,
/// truncated or re-created events file is read from its start, said in a
/// warning; a file whose name sorts first after a clock step is followed
/// too).
#[derive(Debug)]
pub struct Source {
    layout: Layout,
    tail: Option<EventTail>,
    buf: VecDeque<Record>,
    corrupt: u64,
}

impl Source {
    pub fn new(layout: Layout) -> Source {
        Source {
            layout,
            tail: None,
            buf: VecDeque::new(),
            corrupt: 0,
        }
    }

    /// Read what is new and return the current snapshot.
    pub fn read(&mut self) -> std::io::Result<Snapshot> {
        match &mut self.tail {
            None => {
                let t = reader::tail_last_n(&self.layout.log_dir, &[], RECENT_EVENTS)?;
                self.corrupt = t.corrupt;
                self.tail = Some(match t.lines.last() {
                    Some(l) => EventTail::from_cursor(&self.layout.log_dir, &l.end),
                    None => EventTail::at_end(&self.layout.log_dir),
                });
                self.buf = t.lines.into_iter().map(|l| l.value).collect();
            }
            Some(tail) => {
                let before = tail.corrupt();
                for l in tail.poll()? {
                    self.buf.push_back(l.value);
                }
                for n in tail.take_notices() {
                    tracing::warn!("{}: {n}", self.layout.log_dir.display());
                }
                self.corrupt += tail.corrupt() - before;
                while self.buf.len() > RECENT_EVENTS {
                    self.buf.pop_front();
                }
            }
        }
        let events: Vec<Record> = self.buf.iter().cloned().collect();
        gather_rest(&self.layout, events, self.corrupt)
    }
}
