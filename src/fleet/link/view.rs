//! [`HostView`]: what the relayed frames say about one host. It takes probe
//! frames ([`HostView::apply`]), keeps the rolling buffers bounded (see
//! [`super::retention`]), runs the detectors with the host's clock, and
//! answers what the fleet row shows (newest round, age of the last event).
//! No I/O: the link session feeds it.

use super::super::frame::Frame;
use super::retention::{compact, prune_metrics, COMPACT_AT, DETECTOR_FIELDS};
use crate::detect::window::{Record, Thresholds, Window};
use crate::detect::{self as detectors, Alert};
use crate::state::reader::{self, Cursor};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

/// Parse a hello's thresholds; hosts that report the same ones share one
/// copy (its compiled auth patterns are a good part of what a host costs).
fn shared_thresholds(v: &Value) -> Option<Arc<Thresholds>> {
    static CACHE: Mutex<Vec<(Value, Weak<Thresholds>)>> = Mutex::new(Vec::new());
    let parse = || {
        serde_json::from_value::<Thresholds>(v.clone())
            .ok()
            .map(Arc::new)
    };
    let Ok(mut cache) = CACHE.lock() else {
        return parse();
    };
    cache.retain(|(_, w)| w.strong_count() > 0);
    if let Some(t) = cache
        .iter()
        .find(|(k, _)| k == v)
        .and_then(|(_, w)| w.upgrade())
    {
        return Some(t);
    }
    let t = parse()?;
    cache.push((v.clone(), Arc::downgrade(&t)));
    Some(t)
}

/// What the relayed frames say about one host.
#[derive(Debug, Default)]
pub struct HostView {
    pub hello: Option<Map<String, Value>>,
    pub thresholds: Option<Arc<Thresholds>>,
    pub events: VecDeque<Record>,
    pub metrics: VecDeque<Record>,
    pub log_tails: BTreeMap<u64, String>,
    pub snapshot: Option<Map<String, Value>>,
    /// The host's clock at the last snapshot, and when that snapshot arrived here.
    host_now: Option<(DateTime<Utc>, Instant)>,
    /// Cursor after the last event taken.
    pub cursor: Option<Cursor>,
    /// Events taken since start (across reconnects).
    pub events_received: u64,
    /// Events refused because their cursor was not after ours.
    pub duplicates_dropped: u64,
    /// Keep only [`DETECTOR_FIELDS`] of each event (when no view shows them whole).
    pub slim: bool,
    /// Python relay: hashes of the newest relayed lines (a resume with
    /// `--since TS` replays the events at TS and after again).
    pub(super) relayed: VecDeque<u64>,
    /// Python relay: the `ts` of the newest relayed event, to resume from.
    pub relay_since: Option<String>,
}

/// What applying one frame changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    Nothing,
    /// A new event: its raw line.
    Event(String),
    Snapshot,
    Hello,
    Error(String),
}

impl HostView {
    /// Take one frame.
    pub fn apply(&mut self, f: Frame) -> Applied {
        match f {
            Frame::Hello(m) => {
                self.thresholds = m.get("thresholds").and_then(shared_thresholds);
                self.hello = Some(m);
                // The probe re-sends these after every (re)connect.
                self.metrics.clear();
                self.log_tails.clear();
                Applied::Hello
            }
            Frame::Event { cursor, line } => {
                let c = cursor.parse::<Cursor>().ok();
                if let (Some(new), Some(old)) = (&c, &self.cursor) {
                    if new <= old {
                        self.duplicates_dropped += 1;
                        return Applied::Nothing;
                    }
                }
                if c.is_some() {
                    self.cursor = c;
                }
                match reader::parse_line(line.as_bytes()) {
                    Some((_, parsed)) => self.take_event(parsed, line),
                    None => Applied::Nothing,
                }
            }
            Frame::Metric { line } => {
                if let Some((_, v)) = reader::parse_line(line.as_bytes()) {
                    self.metrics.push_back(v);
                    let window = self
                        .thresholds
                        .as_ref()
                        .map_or(1800, |t| t.host_health.disk.growth_window_s);
                    prune_metrics(&mut self.metrics, window);
                }
                Applied::Nothing
            }
            Frame::LogTail { round, text } => {
                self.log_tails.insert(round, text);
                while self.log_tails.len() > crate::snapshot::TAIL_FILES {
                    self.log_tails.pop_first();
                }
                Applied::Nothing
            }
            Frame::Snapshot(m) => {
                let now = m
                    .get("now")
                    .and_then(Value::as_str)
                    .and_then(crate::timefmt::parse_ts);
                if let Some(n) = now {
                    self.host_now = Some((n, Instant::now()));
                }
                self.snapshot = Some(m);
                Applied::Snapshot
            }
            Frame::Error(e) => Applied::Error(e),
            Frame::Unknown(_) => Applied::Nothing,
        }
    }

    /// Keep one parsed event (its raw `line` goes back to the caller).
    pub(super) fn take_event(&mut self, parsed: Record, line: String) -> Applied {
        // Re-built at its exact size (a host keeps up to COMPACT_AT of
        // these); `slim` keeps only the fields the detectors read.
        let keep = |k: &str| !self.slim || DETECTOR_FIELDS.contains(&k);
        let n = parsed.keys().filter(|k| keep(k)).count();
        let mut value = Record::with_capacity(n);
        value.extend(parsed.into_iter().filter(|(k, _)| keep(k)));
        self.events.push_back(value);
        if self.events.len() > COMPACT_AT {
            compact(&mut self.events);
        }
        self.events_received += 1;
        Applied::Event(line)
    }

    /// The host's clock now: its last reported `now` plus the time elapsed here
    /// since (never the local wall clock).
    pub fn now(&self) -> Option<DateTime<Utc>> {
        self.host_now
            .map(|(t, at)| t + chrono::Duration::milliseconds(at.elapsed().as_millis() as i64))
    }

    /// Run the detectors, once a hello and a snapshot have arrived. Borrows
    /// the rolling buffers in place (no copy of the window per evaluation).
    pub fn detect(&mut self) -> Option<Vec<Alert>> {
        let now = self.now()?;
        let th = self.thresholds.as_ref()?;
        let snap = self.snapshot.as_ref()?;
        let live = match snap.get("metrics") {
            Some(Value::Object(live)) => Some(live.clone()),
            _ => None,
        };
        let pushed = live.is_some();
        if let Some(l) = live {
            self.metrics.push_back(l);
        }
        let status = snap.get("status").filter(|s| !s.is_null());
        let w = Window {
            events: self.events.make_contiguous(),
            metrics: self.metrics.make_contiguous(),
            log_tails: &self.log_tails,
            status,
            now,
            thresholds: th,
        };
        let alerts = detectors::run_all(&w);
        if pushed {
            self.metrics.pop_back();
        }
        Some(alerts)
    }

    /// The newest round: (number, phase, running).
    pub fn round(&self) -> Option<(i64, Option<String>, bool)> {
        let start = self
            .events
            .iter()
            .rev()
            .find(|e| e.get("event").and_then(Value::as_str) == Some("round_start"))?;
        let n = start.get("round_num").and_then(Value::as_i64)?;
        let phase = start.get("phase").and_then(Value::as_str).map(String::from);
        let ended = self.events.iter().rev().any(|e| {
            e.get("round_num").and_then(Value::as_i64) == Some(n)
                && e.get("event").and_then(Value::as_str) == Some("round_end")
        });
        Some((n, phase, !ended))
    }

    /// Seconds since the newest event, on the host's clock.
    pub fn last_event_age_s(&self) -> Option<f64> {
        let now = self.now()?;
        let ts = self
            .events
            .back()?
            .get("ts")
            .and_then(Value::as_str)
            .and_then(crate::timefmt::parse_ts)?;
        Some((now - ts).num_milliseconds() as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(cursor: &str, ts: &str, kind: &str, n: u64) -> Frame {
        Frame::Event {
            cursor: cursor.into(),
            line: format!("{{\"ts\": \"{ts}\", \"event\": \"{kind}\", \"round_num\": {n}}}"),
        }
    }

    #[test]
    fn view_drops_events_not_after_its_cursor_and_uses_the_host_clock() {
        let mut v = HostView::default();
        assert!(v.detect().is_none());
        let th = Thresholds::from_config(
            &crate::config::default_config(std::path::Path::new("/w"), std::path::Path::new("/l"))
                .unwrap(),
        );
        let mut hello = Map::new();
        hello.insert("thresholds".into(), serde_json::to_value(&th).unwrap());
        assert_eq!(v.apply(Frame::Hello(hello)), Applied::Hello);
        let a = v.apply(ev(
            "events-2026-11.jsonl:100",
            "2020-01-01T00:00:00.000Z",
            "round_start",
            1,
        ));
        assert!(matches!(a, Applied::Event(_)));
        assert_eq!(
            v.apply(ev(
                "events-2026-11.jsonl:100",
                "2020-01-01T00:00:00.000Z",
                "round_start",
                1
            )),
            Applied::Nothing
        );
        assert_eq!(
            v.apply(ev(
                "events-2026-10.jsonl:900",
                "2020-01-01T00:00:00.000Z",
                "x",
                1
            )),
            Applied::Nothing
        );
        assert_eq!(v.duplicates_dropped, 2);
        assert_eq!(v.events_received, 1);
        // The host says it is 10 s after the round started (its budget is far
        // longer): not hung, although the local clock is years later.
        let mut snap = Map::new();
        snap.insert("now".into(), json!("2020-01-01T00:00:10.000Z"));
        assert_eq!(v.apply(Frame::Snapshot(snap)), Applied::Snapshot);
        let alerts = v.detect().unwrap();
        assert!(
            alerts
                .iter()
                .all(|a| a.detector != "hung" && a.detector != "supervisor_stale"),
            "{alerts:?}"
        );
        let mut snap = Map::new();
        snap.insert("now".into(), json!("2020-01-02T00:00:10.000Z"));
        v.apply(Frame::Snapshot(snap));
        let alerts = v.detect().unwrap();
        assert!(alerts.iter().any(|a| a.detector == "hung"), "{alerts:?}");
        assert_eq!(v.round(), Some((1, None, true)));
    }
}
