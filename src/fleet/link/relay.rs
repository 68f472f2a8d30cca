//! The Python relay: a host that still runs the Python tool has no `probe`,
//! so the link reads its config and clock over the session and relays
//! `agent-runner events --tail --since TS` into the [`HostView`]. Only the
//! event detectors can run (no metrics, status or round logs); a resume's
//! replay is dropped by hashing the newest lines.

use super::super::frame::{self, Frame};
use super::lines::Lines;
use super::session::{last_line, StderrTail, OPEN_DEADLINE};
use super::{Applied, Ended, HostView, Link};
use crate::detect::window::Thresholds;
use crate::ssh::session::{self, StreamEvent};
use crate::ssh::SshError;
use crate::state::reader;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Runs `"$@"` (the Python `events --tail`) and ends it when the channel's
/// stdin reaches EOF, i.e. when the witness or the connection is gone; exits
/// with its status when it ends by itself. (A background list reads
/// /dev/null unless given stdin explicitly, hence fd 3; `read` is a builtin,
/// so nothing is left when the watcher itself is killed.)
const RELAY_WATCHDOG: &str = "exec 3<&0; \"$@\" </dev/null & p=$!; \
(while read -r _; do :; done <&3; kill $p 2>/dev/null) & w=$!; \
wait $p; s=$?; kill $w 2>/dev/null; exit $s";
/// The longest line of the Python tool's `events --tail` taken (its lines
/// have no bound of their own); a longer one is skipped with a warning.
const RELAY_LINE_MAX: usize = 2 * frame::MAX_FRAME;
/// Lines remembered to drop the replay of a Python relay's resume.
const RELAY_SEEN: usize = 512;
/// How far back a Python relay's first connect replays (no byte cursor to
/// count a backlog with): enough for the round in progress and a throttle
/// still in force.
const RELAY_BACKFILL_S: i64 = 24 * 3600;

impl HostView {
    /// Take one line of a Python `events --tail` (no cursor): a line seen
    /// among the newest [`RELAY_SEEN`] is the replay of a resume and dropped.
    pub fn relay_line(&mut self, line: String) -> Applied {
        use std::hash::{Hash, Hasher};
        let text = line.trim_end();
        let Some((_, parsed)) = reader::parse_line(text.as_bytes()) else {
            return Applied::Nothing;
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        let h = h.finish();
        if self.relayed.contains(&h) {
            self.duplicates_dropped += 1;
            return Applied::Nothing;
        }
        if self.relayed.len() >= RELAY_SEEN {
            self.relayed.pop_front();
        }
        self.relayed.push_back(h);
        if let Some(ts) = parsed.get("ts").and_then(Value::as_str) {
            self.relay_since = Some(ts.to_string());
        }
        let line = text.to_string();
        self.take_event(parsed, line)
    }
}

impl Link {
    /// Watch a host that runs the Python agent-runner: read its config (for
    /// the thresholds and `auto_stop_on`) and its clock over the session,
    /// then relay `agent-runner events --tail --since TS` (at least once; the
    /// replay of a resume is dropped by [`HostView::relay_line`]). Only the
    /// event detectors can run: there are no metrics, status or round logs.
    pub(super) async fn relay_stream(
        &mut self,
        sess: &session::Session,
        good: &mut bool,
    ) -> Result<(), Ended> {
        let failed = |e: SshError| Ended::Failed(e.to_string());
        let text = sess
            .exec(&["cat", "--", self.spec.config.as_str()], OPEN_DEADLINE)
            .await
            .map_err(failed)?;
        let cfg = if text.success() {
            let t = String::from_utf8_lossy(&text.stdout);
            // The loader's warnings (a clamped threshold) name the file;
            // the span names the host too.
            let _host = tracing::warn_span!("host", name = %self.spec.name).entered();
            crate::config::from_str(std::path::Path::new(&self.spec.config), &t).map_err(|e| {
                format!(
                    "the remote config '{}' does not load here: {e}",
                    self.spec.config
                )
            })
        } else {
            Err(format!(
                "cannot read the remote config '{}': {}",
                self.spec.config,
                last_line(String::from_utf8_lossy(&text.stderr).trim())
            ))
        };
        let cfg = match cfg {
            Ok(c) => c,
            Err(m) => return Err(Ended::NoProbe(format!("host '{}': {m}", self.spec.name))),
        };
        // The host's clock: `date +%s` read half a round trip ago.
        let t0 = Instant::now();
        let date = sess
            .exec(&["date", "-u", "+%s"], OPEN_DEADLINE)
            .await
            .map_err(failed)?;
        let half_rtt_ms = i64::try_from(t0.elapsed().as_millis() / 2).unwrap_or(0);
        let host_clock = String::from_utf8_lossy(&date.stdout)
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(crate::timefmt::from_epoch_s)
            .and_then(|t| crate::timefmt::add_ms(t, 500 + half_rtt_ms));
        let host_now = match host_clock {
            Some(t) => t,
            None => {
                return Err(Ended::Failed(format!(
                "host '{}': its clock ('date -u +%s') did not give a time of the years 1 to 9999",
                self.spec.name
            )))
            }
        };
        let th = Thresholds::from_config(&cfg);
        let hello = self.view.apply(Frame::Hello(frame::obj(json!({
            "version": "python",
            "relay": "events --tail",
            "hostname": Value::Null,
            "project": cfg.project,
            "config": self.spec.config,
            "log_dir": cfg.runtime.log_dir.display().to_string(),
            "thresholds": serde_json::to_value(&th).unwrap_or(Value::Null),
            "auto_stop_on": cfg.monitor.auto_stop_on,
        }))));
        if let Applied::Refused(e) = hello {
            return Err(Ended::NoProbe(format!("host '{}': {e}", self.spec.name)));
        }
        let snapshot = |now: DateTime<Utc>| {
            Frame::Snapshot(frame::obj(json!({
                "now": crate::timefmt::iso_ms(now),
                "status": Value::Null,
                "relay": true,
            })))
        };
        self.view.apply(snapshot(host_now));
        self.report_connected();
        let since = self.view.relay_since.clone().unwrap_or_else(|| {
            let from = crate::timefmt::add_s(host_now, -RELAY_BACKFILL_S).unwrap_or(host_now);
            crate::timefmt::iso_ms(from)
        });
        let kinds = relay_kinds().join(",");
        // The Python tail outlives a closed channel (it only notices on its
        // next write): a shell watches the channel's stdin and ends it at EOF.
        let argv = [
            "sh",
            "-c",
            RELAY_WATCHDOG,
            "agent-runner-relay",
            "agent-runner",
            "--config",
            self.spec.config.as_str(),
            "events",
            "--tail",
            "--kind",
            kinds.as_str(),
            "--since",
            since.as_str(),
        ];
        let mut st = sess
            .open_exec_stream(&argv, OPEN_DEADLINE)
            .await
            .map_err(failed)?;
        *good = true;
        // Python's tail says nothing while the host is quiet: evaluate on a
        // timer (time-based detectors) and, with --once, after the replay:
        // 1 s without a line once lines came, or ONCE_FIRST_LINE without
        // any (the Python tool takes seconds to start on a busy Pi).
        let interval = Duration::from_secs_f64(self.opts.interval_s);
        let mut lines_seen = false;
        let mut lines = Lines::new(RELAY_LINE_MAX);
        let mut stderr = StderrTail::default();
        loop {
            let every = match (self.opts.once, lines_seen) {
                (true, true) => Duration::from_secs(1),
                (true, false) => ONCE_FIRST_LINE,
                (false, _) => interval,
            };
            let ev = match tokio::time::timeout(every, st.next()).await {
                Ok(ev) => ev,
                Err(_) => {
                    self.evaluate(sess).await;
                    if self.opts.once {
                        st.close().await;
                        return Ok(());
                    }
                    continue;
                }
            };
            match ev {
                Some(StreamEvent::Stdout(d)) => {
                    lines_seen = true;
                    // The Python tool's lines have no size bound: one too
                    // long for a frame is skipped (its bytes never kept).
                    let dropped = lines.push(&d);
                    if dropped > 0 {
                        tracing::warn!(
                            "host '{}': skipped {dropped} event line(s) of its 'events --tail' longer than {} KiB",
                            self.spec.name,
                            RELAY_LINE_MAX / 1024
                        );
                    }
                    let mut changed = false;
                    while let Some(raw) = lines.next_line() {
                        let line = String::from_utf8_lossy(raw).into_owned();
                        if let Applied::Event(l) = self.view.relay_line(line) {
                            changed = true;
                            self.report_event(l);
                        }
                    }
                    lines.compact();
                    if changed && !self.opts.once {
                        self.evaluate(sess).await;
                    }
                }
                Some(StreamEvent::Stderr(d)) => stderr.push(&d),
                Some(StreamEvent::Exit(_)) | Some(StreamEvent::Signal(_)) => {}
                None => return Err(stderr.ended("the remote 'events --tail' ended")),
            }
        }
    }
}

/// With `--once`, how long the relay waits for the Python tool's first line
/// before it evaluates what it has (nothing: the host has no recent events).
const ONCE_FIRST_LINE: Duration = Duration::from_secs(15);

/// The kinds a Python relay asks for: the Python tool's own and ours.
fn relay_kinds() -> Vec<&'static str> {
    let mut k: Vec<&str> = crate::state::events::PYTHON_0_3_KINDS.to_vec();
    k.extend(crate::state::Kind::ALL.iter().map(|k| k.as_str()));
    k.sort_unstable();
    k.dedup();
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::link::retention::{ROUND_KINDS, STATE_KINDS};

    #[test]
    fn a_python_relay_asks_for_every_kind_the_detectors_read() {
        let k = relay_kinds();
        for d in ROUND_KINDS.iter().chain(STATE_KINDS) {
            assert!(k.contains(d), "{d} is not asked for");
        }
        assert!(k.contains(&"round_deferred") && k.contains(&"round_cancelled"));
        assert!(k.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
    }

    #[test]
    fn a_python_relay_resume_drops_the_replayed_lines_and_keeps_new_ones() {
        let mut v = HostView::default();
        let line = |ts: &str, n: u64| {
            format!("{{\"ts\": \"{ts}\", \"event\": \"round_start\", \"round_num\": {n}, \"phase\": null}}\n")
        };
        let a = line("2026-11-25T10:00:00.000Z", 1);
        let b = line("2026-11-25T10:00:01.000Z", 2);
        let c = line("2026-11-25T10:00:01.000Z", 3);
        assert!(matches!(v.relay_line(a.clone()), Applied::Event(_)));
        assert!(matches!(v.relay_line(b.clone()), Applied::Event(_)));
        assert_eq!(v.relay_since.as_deref(), Some("2026-11-25T10:00:01.000Z"));
        // The resume `--since 10:00:01` replays b, then c is new; a garbage
        // line and a blank one are not events.
        assert_eq!(v.relay_line(b), Applied::Nothing);
        assert!(matches!(v.relay_line(c), Applied::Event(_)));
        assert_eq!(v.relay_line("not json\n".into()), Applied::Nothing);
        assert_eq!(v.relay_line("\n".into()), Applied::Nothing);
        assert_eq!((v.events_received, v.duplicates_dropped), (3, 1));
        let rounds: Vec<i64> = v
            .events
            .iter()
            .filter_map(|e| e.get("round_num").and_then(Value::as_i64))
            .collect();
        assert_eq!(rounds, vec![1, 2, 3]);
        // Only the newest RELAY_SEEN lines are remembered.
        for n in 0..(RELAY_SEEN as u64 + 5) {
            v.relay_line(line("2026-11-25T11:00:00.000Z", 100 + n));
        }
        assert!(v.relayed.len() <= RELAY_SEEN);
        assert!(
            matches!(v.relay_line(a), Applied::Event(_)),
            "forgotten: taken again"
        );
    }
}
