//! `agent-runner probe --stream`: the remote end of the witness. Prints
//! [`super::frame`] lines on stdout: a `hello`, the event backlog (or the
//! events after `--since`), recent metrics and round-log tails, then as things
//! happen `event`/`metric`/`log_tail` frames and a `snapshot` every
//! `--interval` seconds.
//!
//! Events are followed by file identity (`state::reader::EventTail`): a
//! rotated, truncated or re-created events file is read from its start
//! without loss (the old file's remainder first) and told in a `notice`
//! frame; a file renamed away and back is not sent again; a line longer
//! than a frame is read past without being kept and sent as a stub. Event
//! frames carry the cursor in its original form (`cursor`, for older
//! witnesses) and with the file's identity (`at`); a `position` frame
//! before the first snapshot says where the probe stands in every file,
//! which a witness resumes from (`--since pos:…`, announced in the hello's
//! `features`).
//!
//! It only reads the log_dir; it never writes, decides or acts. It exits as
//! soon as its channel is gone: stdin reaching EOF (the witness keeps it open),
//! a failed stdout write (EPIPE; Rust ignores SIGPIPE so the write fails), or
//! SIGHUP (default action).

use super::frame::{self, encode, obj};
use crate::config::Config;
use crate::detect::window::Thresholds;
use crate::snapshot::{RECENT_METRICS, TAIL_FILES, TAIL_LINES};
use crate::state::reader::{self, EventTail, Line, Since};
use crate::state::wake::Wake;
use crate::state::Layout;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Test hook: seconds added to the clock the probe reports (simulates a host
/// whose clock is off). Honoured only by `probe`.
pub const CLOCK_OFFSET_ENV: &str = "AGENT_RUNNER_PROBE_CLOCK_OFFSET_S";
/// A round-log tail is cut to this many bytes (its end is kept).
const TAIL_BYTES: usize = 48 * 1024;
/// What this probe can do beyond frame version 1's first form, in its
/// hello: `position` = `--since pos:…` and `at` cursors with identities.
pub const FEATURES: &[&str] = &["position"];

/// What the probe was asked for.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The project config (`--config`).
    pub config: PathBuf,
    /// Keep streaming (without it: hello, backlog, one snapshot, exit).
    pub stream: bool,
    /// Resume strictly after this cursor, or replay from an ISO-8601 time.
    pub since: Option<String>,
    /// Seconds between snapshot frames.
    pub interval: f64,
    /// Events replayed on a first connect (no `since`); 0 = start at the end.
    pub backlog: usize,
    /// Watch this log_dir with default thresholds when there is no config.
    pub log_dir: Option<PathBuf>,
}

/// Why the probe stopped before streaming. The first two were already sent
/// to the witness as an `error` frame.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A bad option (`--interval`, `--since`).
    #[error("{0}")]
    Usage(String),
    /// No config to watch.
    #[error("{0}")]
    Config(String),
    #[error("cannot read '{}': {source}", dir.display())]
    Read {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Where frames go; a failed write means the witness is gone: exit.
struct Out {
    w: std::io::BufWriter<std::io::Stdout>,
}

impl Out {
    fn send(&mut self, kind: &str, fields: Map<String, Value>) {
        let line = encode(frame::frame(kind, fields));
        if self.w.write_all(line.as_bytes()).is_err() {
            std::process::exit(crate::exit_code::OK);
        }
    }
    fn flush(&mut self) {
        if self.w.flush().is_err() {
            std::process::exit(crate::exit_code::OK);
        }
    }
    /// After the connect burst: a small buffer for the trickle that follows
    /// (a frame bigger than it is written straight through).
    fn shrink(&mut self) {
        self.flush();
        self.w = std::io::BufWriter::with_capacity(STEADY_BUF, std::io::stdout());
    }
}

/// The output buffer for the connect sequence (backlog) and afterwards.
const BURST_BUF: usize = 64 * 1024;
const STEADY_BUF: usize = 8 * 1024;

/// The host clock as this probe reports it (with the test offset, if set).
fn host_now(offset_ms: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::milliseconds(offset_ms)
}

fn clock_offset_ms() -> i64 {
    std::env::var(CLOCK_OFFSET_ENV)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|x| x.is_finite())
        .map(|x| (x * 1000.0) as i64)
        .unwrap_or(0)
}

/// Exit when stdin reaches EOF or fails: the SSH channel is gone.
fn watch_stdin() {
    let _ = std::thread::Builder::new()
        .name("probe-stdin".into())
        .spawn(|| {
            let mut buf = [0u8; 512];
            let mut stdin = std::io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => std::process::exit(crate::exit_code::OK),
                    Ok(_) => {}
                }
            }
        });
}

fn load_config(a: &ProbeOptions) -> Result<Config, String> {
    match crate::config::load(&a.config) {
        Ok(c) => Ok(c),
        Err(e) => match &a.log_dir {
            Some(d) => crate::config::default_config(d, d).map_err(|e| e.to_string()),
            None => Err(format!(
                "{e} (or pass --log-dir DIR to watch a log_dir with default thresholds)"
            )),
        },
    }
}

fn hello(cfg: &Config, a: &ProbeOptions) -> Map<String, Value> {
    let th = Thresholds::from_config(cfg);
    let config_path = std::fs::canonicalize(&a.config).unwrap_or_else(|_| a.config.clone());
    obj(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "hostname": nix::unistd::gethostname().ok().map(|h| h.to_string_lossy().into_owned()),
        "arch": std::env::consts::ARCH,
        "pid": std::process::id(),
        "config": config_path.display().to_string(),
        "log_dir": cfg.runtime.log_dir.display().to_string(),
        "project": cfg.project,
        "interval_s": a.interval,
        "thresholds": serde_json::to_value(&th).unwrap_or(Value::Null),
        "auto_stop_on": cfg.monitor.auto_stop_on,
        "remote_failure_tolerance_s": cfg.monitor.remote_failure_tolerance_s,
        "features": FEATURES,
    }))
}

fn event_frame(out: &mut Out, wanted: &mut TailWanted, l: &Line) -> bool {
    let w = wanted.note(l);
    let mut f = obj(json!({"cursor": l.end.legacy(), "line": l.text}));
    if l.end.id.is_some() {
        f.insert("at".into(), json!(l.end.to_string()));
    }
    if l.cut.is_some() {
        f.insert("truncated".into(), json!(true));
    }
    out.send("event", f);
    w
}

/// Tell the witness what changed in the followed files.
fn notices(out: &mut Out, tail: &mut EventTail) -> bool {
    let ns = tail.take_notices();
    for n in &ns {
        out.send(
            "notice",
            obj(json!({"file": n.file, "what": n.what(), "message": n.to_string()})),
        );
    }
    !ns.is_empty()
}

fn snapshot(
    project: &str,
    layout: &Layout,
    now: DateTime<Utc>,
    tail: &EventTail,
) -> Map<String, Value> {
    let status = std::fs::read(layout.status())
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let mut sample = Map::new();
    sample.insert("ts".into(), json!(crate::timefmt::iso_ms(now)));
    sample.insert("source".into(), json!("probe"));
    sample.extend(crate::state::metrics::sample(&layout.log_dir).to_fields(None, None, None));
    let rec = crate::service::pidfile::read(&layout.serve_pid())
        .ok()
        .flatten();
    let live = rec.as_ref().filter(|r| r.is_live());
    let holder = crate::state::lock::read_holder(&layout.lock_holder())
        .filter(|h| crate::sys::proc::alive(h.pid))
        .map(|h| json!({"pid": h.pid, "started_at": h.started_at, "cmdline": h.cmdline}));
    obj(json!({
        "now": crate::timefmt::iso_ms(now),
        "status": status,
        "metrics": sample,
        "service": {
            "mode": crate::service::mode_of(project, &layout.log_dir).as_str(),
            "active": live.is_some(),
            "pid": live.map(|r| r.pid),
        },
        "round": holder,
        "cursor": tail.cursor().map(|c| c.to_string()),
    }))
}

/// Rounds whose log tails the detectors read (short failed exits), newest
/// last, bounded.
#[derive(Debug, Default)]
struct TailWanted {
    short_failed: std::collections::BTreeSet<u64>,
}

impl TailWanted {
    /// Note an event; true when it adds a round whose tail is now wanted.
    fn note(&mut self, l: &Line) -> bool {
        if l.kind() != "agent_exit" || !crate::detect::is_short_failed_exit(&l.value) {
            return false;
        }
        let Some(n) = l.value.get("round_num").and_then(Value::as_u64) else {
            return false;
        };
        let added = self.short_failed.insert(n);
        while self.short_failed.len() > TAIL_FILES {
            self.short_failed.pop_first();
        }
        added
    }
}

/// The current round's tail is cut to this (drill-down only; no detector
/// reads it until the round exits, and then the full tail is sent).
const CURRENT_TAIL_BYTES: usize = 8 * 1024;

/// Send the round-log tails the detectors need — short failed rounds among
/// the newest [`TAIL_FILES`] — plus a short tail of the newest round, when
/// they changed since last sent.
fn log_tails(
    out: &mut Out,
    layout: &Layout,
    wanted: &TailWanted,
    seen: &mut HashMap<u64, (u64, i64, bool)>,
) {
    let logs = layout.agent_logs();
    let latest = logs.last().map(|(n, _)| *n);
    let skip = logs.len().saturating_sub(TAIL_FILES);
    let mut keep = HashMap::new();
    for (n, p) in logs.into_iter().skip(skip) {
        let full = wanted.short_failed.contains(&n);
        if !full && Some(n) != latest {
            continue;
        }
        let Ok(m) = std::fs::metadata(&p) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        let sig = (m.len(), m.mtime_nsec() ^ m.mtime(), full);
        if seen.get(&n) != Some(&sig) {
            if let Ok(t) = reader::tail_text(&p, TAIL_LINES) {
                let cap = if full { TAIL_BYTES } else { CURRENT_TAIL_BYTES };
                out.send(
                    "log_tail",
                    // Redacted before it leaves the host, then cut: a cut
                    // cannot split a secret out of its mask.
                    obj(json!({"round": n, "text": frame::keep_end(&crate::redact::redact(&t), cap), "full": full})),
                );
            }
        }
        keep.insert(n, sig);
    }
    *seen = keep;
}

/// Run the probe: frames on stdout until the witness goes away (with
/// `stream`), or one pass (hello, backlog, one snapshot).
pub fn run(a: &ProbeOptions) -> Result<(), ProbeError> {
    let mut out = Out {
        w: std::io::BufWriter::with_capacity(BURST_BUF, std::io::stdout()),
    };
    let mut refuse = |e: ProbeError| {
        out.send("error", obj(json!({"message": e.to_string()})));
        out.flush();
        e
    };
    if !(a.interval.is_finite() && a.interval > 0.0) {
        return Err(refuse(ProbeError::Usage(format!(
            "--interval expects a positive number of seconds, got '{}'",
            a.interval
        ))));
    }
    let cfg = load_config(a).map_err(|e| refuse(ProbeError::Config(e)))?;
    let since = a
        .since
        .as_deref()
        .map(str::parse::<Since>)
        .transpose()
        .map_err(|e| refuse(ProbeError::Usage(e.to_string())))?;
    if a.stream {
        watch_stdin();
    }
    let offset_ms = clock_offset_ms();
    out.send("hello", hello(&cfg, a));
    out.flush();
    // All the probe needs of the config from here on: a long-lived probe
    // does not keep its compiled patterns and the rest on the heap.
    let project = cfg.project.clone();
    let layout = Layout::new(cfg.runtime.log_dir.clone());
    drop(cfg);
    let dir = &layout.log_dir;
    let io = |source: std::io::Error| ProbeError::Read {
        dir: dir.clone(),
        source,
    };
    // Events: the backlog or the replay after --since, then follow on.
    let mut wanted = TailWanted::default();
    let mut tail = match &since {
        Some(s) => {
            let (lines, t) = reader::since_capped(dir, s, frame::MAX_FRAME).map_err(io)?;
            for l in &lines {
                event_frame(&mut out, &mut wanted, l);
            }
            t
        }
        None if a.backlog == 0 => EventTail::at_end(dir),
        None => {
            let shards = reader::shard_files(dir, "events-");
            let t = reader::tail_last_n_capped(&shards, &[], a.backlog, frame::MAX_FRAME)
                .map_err(io)?;
            for l in &t.lines {
                event_frame(&mut out, &mut wanted, l);
            }
            match t.lines.last() {
                Some(l) => EventTail::from_cursor(dir, &l.end),
                None => EventTail::at_end(dir),
            }
        }
    };
    // No line longer than a frame is ever held: it is read past, as a stub.
    tail.max_line(frame::MAX_FRAME);
    notices(&mut out, &mut tail);
    // Metrics: the newest samples, then what is appended.
    let shards = reader::shard_files(dir, "metrics-");
    for l in reader::tail_last_n_in(&shards, &[], RECENT_METRICS)
        .map_err(io)?
        .lines
    {
        out.send("metric", obj(json!({"line": l.text})));
    }
    let mut mtail = EventTail::metrics_from_start(dir);
    mtail.seek_to_end();
    mtail.max_line(frame::MAX_FRAME);
    let mut seen_logs = HashMap::new();
    log_tails(&mut out, &layout, &wanted, &mut seen_logs);
    // Where the probe stands in every events file, what a witness resumes
    // from; then the first snapshot, which marks the end of the backlog.
    out.send(
        "position",
        obj(json!({"position": tail.position().to_string()})),
    );
    out.send(
        "snapshot",
        snapshot(&project, &layout, host_now(offset_ms), &tail),
    );
    out.flush();
    if !a.stream {
        return Ok(());
    }
    let interval = Duration::from_secs_f64(a.interval);
    let mut last_snap = Instant::now();
    // Woken by inotify when the log_dir changes (else a 100 ms tick); the
    // logs are re-read on every wake and before every snapshot anyway.
    let mut wake = Wake::new(dir);
    if wake.is_notified() {
        // inotify says when a shard appears: no directory listing per wake.
        tail.keep_listing();
        mtail.keep_listing();
    }
    // The connect sequence parsed up to thousands of backlog events; the
    // probe then lives for days on a small host with only its follow-on
    // buffers: hand the rest back before the loop.
    out.shrink();
    crate::heap::trim();
    loop {
        if wake.wait(interval.saturating_sub(last_snap.elapsed())) {
            tail.relist();
            mtail.relist();
        }
        let mut wrote = false;
        let mut new_exit = false;
        match tail.poll() {
            Ok(lines) => {
                for l in &lines {
                    new_exit |= event_frame(&mut out, &mut wanted, l);
                }
                wrote |= !lines.is_empty();
            }
            Err(e) => tracing::warn!("probe: reading events failed: {e}"),
        }
        wrote |= notices(&mut out, &mut tail);
        let _ = mtail.take_notices();
        if let Ok(lines) = mtail.poll() {
            for l in &lines {
                out.send("metric", obj(json!({"line": l.text})));
            }
            wrote |= !lines.is_empty();
        }
        if new_exit {
            // A short failed exit: its tail before the detectors run on it.
            log_tails(&mut out, &layout, &wanted, &mut seen_logs);
        }
        if last_snap.elapsed() >= interval {
            last_snap = Instant::now();
            // The log_dir may exist by now (serve not started yet at first).
            if wake.rewatch(dir) {
                tail.keep_listing();
                mtail.keep_listing();
            }
            tail.relist();
            mtail.relist();
            log_tails(&mut out, &layout, &wanted, &mut seen_logs);
            out.send(
                "snapshot",
                snapshot(&project, &layout, host_now(offset_ms), &tail),
            );
            wrote = true;
        }
        if wrote {
            out.flush();
        }
    }
}
