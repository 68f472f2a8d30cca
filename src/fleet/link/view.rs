//! [`HostView`]: what the relayed frames say about one host. It takes probe
//! frames ([`HostView::apply`]), keeps the rolling buffers bounded (see
//! [`super::retention`]), runs the detectors with the host's clock, and
//! answers what the fleet row shows (newest round, age of the last event).
//! No I/O: the link session feeds it.

use super::super::frame::Frame;
use super::retention::{compact, prune_metrics, slim_metric, COMPACT_AT, DETECTOR_FIELDS};
use crate::detect::window::{Record, Thresholds, Window};
use crate::detect::{self as detectors, Alert};
use crate::state::reader::{self, Cursor, Position};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

/// A hello's thresholds, parsed and held to their ranges, with one line per
/// value clamped; hosts that report the same ones share one copy (its
/// compiled auth patterns are a good part of what a host costs). Err: why
/// they are not usable.
fn shared_thresholds(v: &Value) -> Result<(Arc<Thresholds>, Vec<String>), String> {
    type Entry = (Value, Weak<Thresholds>, Vec<String>);
    static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
    let parse = || {
        let mut t = serde_json::from_value::<Thresholds>(v.clone())
            .map_err(|e| format!("its hello's thresholds are not usable: {e}"))?;
        let clamped = t.clamp();
        Ok::<_, String>((Arc::new(t), clamped))
    };
    let Ok(mut cache) = CACHE.lock() else {
        return parse();
    };
    cache.retain(|(_, w, _)| w.strong_count() > 0);
    if let Some(hit) = cache
        .iter()
        .find(|(k, _, _)| k == v)
        .and_then(|(_, w, c)| Some((w.upgrade()?, c.clone())))
    {
        return Ok(hit);
    }
    let (t, clamped) = parse()?;
    cache.push((v.clone(), Arc::downgrade(&t), clamped.clone()));
    Ok((t, clamped))
}

/// A remote value for an error message: its JSON, cut to a few dozen
/// characters (escaped, so no control character reaches a terminal).
fn excerpt(v: Option<&Value>) -> String {
    let s = v.map_or_else(|| "nothing".to_string(), Value::to_string);
    let cut: String = s.chars().take(40).collect();
    let cut = if cut.len() < s.len() {
        cut + "…"
    } else {
        cut
    };
    cut.escape_debug().to_string()
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
    /// Where the probe stands in every events file (from its first
    /// snapshot, then moved by each event taken): what a resume sends, and
    /// what tells a duplicate (a cursor it covers) from a new line.
    pub position: Option<Position>,
    /// No event taken yet on this connection (an older probe's cursors).
    fresh_connection: bool,
    /// What the link should say on stderr (a file an older probe re-read).
    notes: Vec<String>,
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
    /// Rounds and today's usage for the HTTP view (fed only when not `slim`).
    pub history: crate::witness::dashboard::model::History,
}

/// What applying one frame changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    Nothing,
    /// A new event: its raw line.
    Event(String),
    Snapshot,
    /// A hello was taken; one line per threshold clamped to its range
    /// (naming the key), empty when nothing was or when the thresholds are
    /// those of the previous hello.
    Hello(Vec<String>),
    /// The probe says a followed file changed (message names the file).
    Notice(String),
    /// The remote probe's own `error` frame.
    Error(String),
    /// A frame this witness refuses (a hello whose thresholds are not
    /// usable, a snapshot without a usable `now`): why, in one line.
    Refused(String),
}

/// Notes kept until the link takes them.
const NOTES_MAX: usize = 16;

impl HostView {
    /// Take one frame.
    pub fn apply(&mut self, f: Frame) -> Applied {
        match f {
            Frame::Hello(m) => {
                let Some(raw) = m.get("thresholds") else {
                    return Applied::Refused("its hello has no thresholds".into());
                };
                let (th, clamped) = match shared_thresholds(raw) {
                    Ok(x) => x,
                    Err(e) => return Applied::Refused(e),
                };
                let same = self
                    .thresholds
                    .as_ref()
                    .is_some_and(|o| Arc::ptr_eq(o, &th));
                self.thresholds = Some(th);
                if !has_feature(&m, "position") {
                    // An older probe: its cursors carry no identity.
                    self.position = None;
                }
                self.fresh_connection = true;
                self.hello = Some(m);
                // The probe re-sends these after every (re)connect.
                self.metrics.clear();
                self.log_tails.clear();
                Applied::Hello(if same { Vec::new() } else { clamped })
            }
            Frame::Event { cursor, line } => {
                let c = cursor.parse::<Cursor>().ok();
                let fresh = std::mem::take(&mut self.fresh_connection);
                if let Some(c) = c {
                    if !self.take_cursor(c, fresh) {
                        self.duplicates_dropped += 1;
                        return Applied::Nothing;
                    }
                }
                match reader::parse_line(line.as_bytes()) {
                    Some((_, parsed)) => self.take_event(parsed, line),
                    None => Applied::Nothing,
                }
            }
            Frame::Metric { line } => {
                if let Some((_, v)) = reader::parse_line(line.as_bytes()) {
                    self.metrics.push_back(slim_metric(v));
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
                let Some(now) = now else {
                    return Applied::Refused(format!(
                        "a snapshot's 'now' is not a time of the years 1 to 9999: {}",
                        excerpt(m.get("now"))
                    ));
                };
                self.host_now = Some((now, Instant::now()));
                self.snapshot = Some(m);
                Applied::Snapshot
            }
            Frame::Position(p) => {
                // After a connect's backlog: where the probe stands now.
                if let Ok(p) = p.parse::<Position>() {
                    self.position = Some(p);
                }
                Applied::Nothing
            }
            Frame::Notice { message, .. } => Applied::Notice(message),
            Frame::Error(e) => Applied::Error(e),
            Frame::Unknown(_) => Applied::Nothing,
        }
    }

    /// Take an event's cursor: false when it is a duplicate.
    ///
    /// With the file's identity (this version's probe), a duplicate is a
    /// cursor the [`Position`] covers, whatever the file's name and however
    /// names sort. Without (an older probe), cursors compare by name and
    /// offset: one not after the last is a resume's replay when it is the
    /// first of a connection (or the very same cursor); later on the same
    /// connection it means the probe read a file again from its start
    /// (replaced or truncated) or one named before (a clock that stepped
    /// back), and it is taken, and said.
    fn take_cursor(&mut self, c: Cursor, fresh: bool) -> bool {
        if c.id.is_some() {
            if let Some(p) = &mut self.position {
                if !p.advance(&c) {
                    return false;
                }
            }
            self.cursor = Some(c);
            return true;
        }
        if let Some(old) = &self.cursor {
            let (new, last) = ((c.file.as_str(), c.offset), (old.file.as_str(), old.offset));
            let behind = new <= last;
            if behind && (fresh || new == last) {
                return false;
            }
            if behind && self.notes.len() < NOTES_MAX {
                self.notes.push(format!(
                    "'{}' was read again from offset {} (after {}:{}): the file was replaced or truncated, or the clock stepped back; taking its lines (deploy this version for exact resumes)",
                    c.file, c.offset, old.file, old.offset
                ));
            }
        }
        self.cursor = Some(c);
        true
    }

    /// What the link should say on stderr since the last call.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Does the connected probe resume from a position (`--since pos:…`)?
    pub fn probe_has_position(&self) -> bool {
        self.hello
            .as_ref()
            .is_some_and(|h| has_feature(h, "position"))
    }

    /// The `--since` value for a resume: the position when the probe takes
    /// one, else the last cursor (in the original form for an older probe);
    /// `None` before any event (a first connect).
    pub fn resume_since(&self) -> Option<String> {
        let new = self.probe_has_position();
        match (&self.position, &self.cursor) {
            (Some(p), _) if new => Some(p.to_string()),
            (_, Some(c)) if new => Some(c.to_string()),
            (_, Some(c)) => Some(c.legacy()),
            _ => None,
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
        if !self.slim {
            self.history.push(&value);
        }
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
        let (t, at) = self.host_now?;
        crate::timefmt::add_ms(t, i64::try_from(at.elapsed().as_millis()).ok()?)
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

/// Does a hello list `feature` in its `features`?
fn has_feature(hello: &Map<String, Value>, feature: &str) -> bool {
    hello
        .get("features")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|f| f.as_str() == Some(feature)))
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
        assert_eq!(v.apply(Frame::Hello(hello)), Applied::Hello(vec![]));
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
        // A reconnect: the first event not after the cursor is a replay.
        let mut hello = Map::new();
        hello.insert("thresholds".into(), serde_json::to_value(&th).unwrap());
        assert_eq!(v.apply(Frame::Hello(hello)), Applied::Hello(vec![]));
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

#[cfg(test)]
mod cursor_tests {
    use super::*;
    use serde_json::json;

    fn ev(cursor: &str, n: u64) -> Frame {
        Frame::Event {
            cursor: cursor.into(),
            line: format!(
                "{{\"ts\": \"2026-01-01T00:00:00.000Z\", \"event\": \"tick\", \"seq\": {n}}}"
            ),
        }
    }

    fn hello(features: bool) -> Frame {
        let th = Thresholds::from_config(
            &crate::config::default_config(std::path::Path::new("/w"), std::path::Path::new("/l"))
                .unwrap(),
        );
        let mut m = Map::new();
        m.insert("thresholds".into(), serde_json::to_value(&th).unwrap());
        if features {
            m.insert("features".into(), json!(["position"]));
        }
        Frame::Hello(m)
    }

    fn taken(v: &mut HostView, cursor: &str) -> bool {
        matches!(v.apply(ev(cursor, 0)), Applied::Event(_))
    }

    const A: &str = "1.00000000000000aa";
    const B: &str = "2.00000000000000bb";

    #[test]
    fn with_identities_a_rotated_file_and_an_earlier_name_are_new_and_replays_are_not() {
        let mut v = HostView::default();
        v.apply(hello(true));
        assert_eq!(v.resume_since(), None, "a first connect takes a backlog");
        // After the backlog: where the probe stands.
        v.apply(Frame::Position(format!("pos:events-2026-12.jsonl:500:{A}")));
        assert!(!taken(&mut v, &format!("events-2026-12.jsonl:500:{A}")));
        assert!(taken(&mut v, &format!("events-2026-12.jsonl:600:{A}")));
        // Rotated: the new file's small offsets are new lines.
        assert!(taken(&mut v, &format!("events-2026-12.jsonl:100:{B}")));
        // A clock that stepped back: a name that sorts first.
        assert!(taken(&mut v, "events-2025-06.jsonl:80:3.0000000000000003"));
        assert!(!taken(&mut v, &format!("events-2026-12.jsonl:600:{A}")));
        assert!(!taken(&mut v, &format!("events-2026-12.jsonl:100:{B}")));
        assert_eq!(v.duplicates_dropped, 3);
        // The resume sends the whole position.
        let since = v.resume_since().unwrap();
        let p: Position = since.parse().unwrap();
        assert_eq!(p.cursors().len(), 3, "{since}");
        assert!(since.contains("events-2025-06.jsonl:80:3."), "{since}");
        // The probe became an older one: the last cursor, in its old form.
        v.apply(hello(false));
        assert_eq!(v.position, None);
        assert_eq!(v.resume_since().as_deref(), Some("events-2025-06.jsonl:80"));
    }

    #[test]
    fn an_older_probe_rereading_a_file_is_taken_and_said_but_a_replay_is_not() {
        let mut v = HostView::default();
        v.apply(hello(false));
        assert!(taken(&mut v, "events-2026-12.jsonl:500"));
        // Truncated or replaced on the host: offsets start again.
        assert!(taken(&mut v, "events-2026-12.jsonl:100"));
        let notes = v.take_notes();
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("'events-2026-12.jsonl' was read again"),
            "{notes:?}"
        );
        assert!(
            !taken(&mut v, "events-2026-12.jsonl:100"),
            "the same cursor"
        );
        // A reconnect resumes after the cursor; its first line is a replay.
        v.apply(hello(false));
        assert_eq!(
            v.resume_since().as_deref(),
            Some("events-2026-12.jsonl:100")
        );
        assert!(!taken(&mut v, "events-2026-12.jsonl:90"));
        assert!(taken(&mut v, "events-2026-12.jsonl:200"));
    }
}
