//! The watch over a running round: reads the round log as it grows
//! ([`LineReader`], bounded), asks the CLI's recognizer about each line, and
//! decides whether the round should end now (`process::OutputWatch`). After
//! the round, [`Watch::finish`] reads the rest and gives the [`Recognition`].
//!
//! Timing is the wait loop's (a line counts as seen at the poll that read
//! it, so to within a second). Progress (a real answer, a completed turn)
//! forgets the failures seen before it: a CLI that retried and got through
//! is fine.

use super::lines::LineReader;
use super::{Class, EndRule, Recognition, Recognizer, Signal};
use crate::round::process::OutputWatch;
use std::path::Path;
use std::time::Duration;

/// A definitive signal ends the round this long after it was first read,
/// so a CLI that is exiting anyway does so by itself.
pub const SETTLE: Duration = Duration::from_secs(2);
/// A retry loop still failing this long after its first failure ends the
/// round.
pub const HOLD: Duration = Duration::from_secs(10);
/// Failures further apart than this are separate episodes.
const STREAK_GAP: Duration = Duration::from_secs(120);
/// The line before the current one is kept up to this many bytes.
const PREV_MAX: usize = 2048;

#[derive(Debug)]
struct Seen {
    first: Duration,
    streak_start: Duration,
    last: Duration,
}

/// One round's watch. `Send`, so the wait loop can hold it behind a mutex.
#[derive(Debug)]
pub struct Watch {
    reader: LineReader,
    st: State,
}

/// What the watch knows; each line is folded in as it is read (nothing is
/// kept per line, so a flood of output costs time, not memory).
#[derive(Debug)]
struct State {
    recognizer: Recognizer,
    prev: String,
    found: Recognition,
    seen: Vec<(Class, Seen)>,
    retry_offset: Option<u64>,
    ended: Option<&'static str>,
}

impl Watch {
    /// A watch over `log` for `agent_binary`; `None` if we know nothing of
    /// that CLI's output.
    pub fn new(agent_binary: &str, log: &Path) -> Option<Watch> {
        Some(Watch {
            reader: LineReader::new(log),
            st: State {
                recognizer: super::recognizer_for(agent_binary)?,
                prev: String::new(),
                found: Recognition::default(),
                seen: Vec::new(),
                retry_offset: None,
                ended: None,
            },
        })
    }

    /// Read the rest of the log (the agent has exited) and return what the
    /// round's output said.
    pub fn finish(&mut self, elapsed: Duration) -> Recognition {
        self.read(elapsed, true);
        self.st.found.clone()
    }

    /// The `exit_cause` this watch ended the round with, if it did.
    pub fn ended(&self) -> Option<&'static str> {
        self.st.ended
    }

    fn read(&mut self, at: Duration, flush: bool) {
        let st = &mut self.st;
        self.reader
            .read(flush, &mut |line, end| st.line(line, end, at));
    }
}

impl State {
    fn line(&mut self, line: &str, end: u64, at: Duration) {
        let looks_json = crate::round::parsers::looks_json(line);
        let json = if looks_json {
            match serde_json::from_str::<serde_json::Value>(line.trim()) {
                Ok(serde_json::Value::Object(m)) => Some(m),
                _ => None,
            }
        } else {
            None
        };
        let hit = (self.recognizer)(&super::LineView {
            text: line,
            prev: &self.prev,
            looks_json,
            json: json.as_ref(),
        });
        self.prev.clear();
        self.prev
            .push_str(crate::round::parsers::take_prefix(line, PREV_MAX));
        if hit.progress {
            self.found = Recognition::default();
            self.seen.clear();
        }
        if hit.retrying {
            self.retry_offset = Some(end);
        }
        if let Some(s) = hit.signal {
            self.note(&s, at);
            self.found.add(s);
        }
    }

    fn note(&mut self, s: &Signal, at: Duration) {
        match self.seen.iter_mut().find(|(c, _)| *c == s.class) {
            Some((_, seen)) => {
                if at.saturating_sub(seen.last) > STREAK_GAP {
                    seen.streak_start = at;
                }
                seen.last = at;
            }
            None => self.seen.push((
                s.class,
                Seen {
                    first: at,
                    streak_start: at,
                    last: at,
                },
            )),
        }
    }

    /// The class whose signal ends the round at `now`, if any.
    fn due(&self, now: Duration) -> Option<Class> {
        self.found.signals.iter().find_map(|s| {
            let (_, seen) = self.seen.iter().find(|(c, _)| *c == s.class)?;
            let due = match s.end {
                EndRule::AfterRound => false,
                EndRule::Now => now.saturating_sub(seen.first) >= SETTLE,
                EndRule::Persisting => seen.last.saturating_sub(seen.streak_start) >= HOLD,
            };
            due.then_some(s.class)
        })
    }
}

impl OutputWatch for Watch {
    fn poll(&mut self, elapsed: Duration) -> Option<&'static str> {
        self.read(elapsed, false);
        let cause = self.st.due(elapsed)?.end_cause();
        self.st.ended = Some(cause);
        Some(cause)
    }

    fn retry_offset(&self) -> Option<u64> {
        self.st.retry_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    struct Log {
        _dir: tempfile::TempDir,
        f: std::fs::File,
        path: std::path::PathBuf,
    }
    fn log() -> Log {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("round.log");
        let f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        Log { _dir: dir, f, path }
    }
    fn w(l: &mut Log, text: &str) {
        l.f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn unknown_agents_have_no_watch() {
        assert!(Watch::new("bash", Path::new("/x")).is_none());
        assert!(Watch::new("/usr/bin/claude", Path::new("/x")).is_some());
    }

    #[test]
    fn a_definitive_signal_ends_after_the_settle_time() {
        let mut l = log();
        let mut watch = Watch::new("aider", &l.path).unwrap_or_else(|| panic!("aider"));
        assert_eq!(watch.poll(s(1)), None);
        w(
            &mut l,
            "Waiting up to 5 minutes for you to finish in the browser...\n",
        );
        assert_eq!(watch.poll(s(4)), None, "just seen: settle first");
        assert_eq!(watch.poll(s(6)), Some("needs_input"));
        assert_eq!(watch.ended(), Some("needs_input"));
    }

    #[test]
    fn a_retry_loop_ends_only_when_it_persists_and_progress_forgets_it() {
        let mut l = log();
        let mut watch = Watch::new("aider", &l.path).unwrap_or_else(|| panic!("aider"));
        let fail =
            "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for\n";
        w(&mut l, fail);
        assert_eq!(watch.poll(s(5)), None);
        w(&mut l, fail);
        assert_eq!(watch.poll(s(9)), None, "4 s of failures");
        w(&mut l, "Tokens: 10 sent, 2 received.\n");
        assert_eq!(watch.poll(s(14)), None);
        assert_eq!(watch.finish(s(14)), Recognition::default(), "recovered");
        w(&mut l, fail);
        assert_eq!(watch.poll(s(20)), None);
        w(&mut l, fail);
        assert_eq!(watch.poll(s(31)), Some("rate_limited"));
        assert_eq!(watch.finish(s(31)).class_name(), Some("rate_limit"));
    }

    #[test]
    fn a_pi_retry_is_placed_after_its_end_record() {
        let mut l = log();
        let mut watch = Watch::new("pi", &l.path).unwrap_or_else(|| panic!("pi"));
        let end = "{\"type\":\"agent_end\",\"messages\":[]}\n";
        let retry =
            "{\"type\":\"auto_retry_start\",\"attempt\":1,\"errorMessage\":\"429: slow down\"}\n";
        w(&mut l, end);
        assert_eq!(watch.poll(s(1)), None);
        assert_eq!(watch.retry_offset(), None);
        w(&mut l, retry);
        assert_eq!(watch.poll(s(2)), None);
        assert_eq!(watch.retry_offset(), Some((end.len() + retry.len()) as u64));
    }
}
