//! What an agent CLI's own output says about its round, from the lines we
//! know today's CLIs print (captured in `tests/data/agents/`, listed per CLI
//! in docs/agents.md): it waits for a human (a login, a browser sign-in, a
//! non-root user, a setting), it was refused auth, the network is down, it is
//! rate limited (with the reset time when it says one), the API is
//! overloaded.
//!
//! One recognizer per CLI (`rules/`) judges one line at a time (stdout and
//! stderr alike: the round log holds both). The [`Watch`] feeds it the log
//! as it grows, while the agent runs, and ends the round early when a signal
//! is definitive (`process::OutputWatch`); after the round its findings
//! become events (`events`). Text rules never look at a JSON-looking line
//! (the agent's own prose travels inside JSON records); JSON rules look at
//! record fields, never at free text.

mod events;
mod lines;
mod rules;
#[cfg(test)]
mod tests_corpus;
mod watch;

pub use events::{needs_human_line, recognized_events, AgentVerdict};
pub use watch::Watch;

/// What a signal says about the round. Variants are in precedence order: the
/// first one found decides the round's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// The agent waits for a human (browser sign-in, a non-root user, a
    /// setting): nothing changes until someone acts.
    NeedsInput,
    /// The provider or the CLI refused the credentials (or there are none).
    Auth,
    /// Rate limited, or out of quota / credit.
    RateLimit,
    /// The provider cannot be reached.
    Network,
    /// The provider answered 5xx / overloaded.
    Overloaded,
}

impl Class {
    /// The `exit_cause` of a round this class ended early.
    pub fn end_cause(self) -> &'static str {
        match self {
            Class::NeedsInput | Class::Auth => "needs_input",
            Class::RateLimit => "rate_limited",
            Class::Network | Class::Overloaded => "network_down",
        }
    }
}

/// When a signal ends a running round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndRule {
    /// Never early: the CLI ends by itself; the signal only classifies.
    AfterRound,
    /// Definitive: end the round (after [`watch::SETTLE`], so a CLI that is
    /// exiting anyway does so by itself).
    Now,
    /// The CLI retries without end: end the round when the signal is still
    /// coming [`watch::HOLD`] after it started.
    Persisting,
}

/// One recognized line.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub class: Class,
    /// What a human must provide (`login`, `browser_sign_in`, `non_root`,
    /// `agent_config`): set for [`Class::NeedsInput`], and for
    /// [`Class::Auth`] when there are no credentials at all.
    pub need: Option<&'static str>,
    /// What the agent is waiting for, in words.
    pub waiting_for: Option<&'static str>,
    /// One line saying what to do.
    pub remedy: Option<&'static str>,
    /// Quota or credit exhausted: waiting a minute does not help.
    pub quota: bool,
    /// The reset the CLI announced (seconds from now), if any.
    pub reset_in_s: Option<i64>,
    pub end: EndRule,
    /// The phrase that was recognized (for `agent_network_blip.matched`).
    pub matched: &'static str,
    /// The source line (capped and redacted when it becomes an event).
    pub raw: String,
}

impl Signal {
    pub(crate) fn new(class: Class, matched: &'static str, raw: &str) -> Signal {
        Signal {
            class,
            need: None,
            waiting_for: None,
            remedy: None,
            quota: false,
            reset_in_s: None,
            end: EndRule::AfterRound,
            matched,
            raw: crate::round::parsers::cap_raw(raw),
        }
    }
    pub(crate) fn end(mut self, end: EndRule) -> Signal {
        self.end = end;
        self
    }
    /// A human must act: what, waiting for what, and the remedy.
    pub(crate) fn needs(
        mut self,
        need: &'static str,
        waiting_for: &'static str,
        remedy: &'static str,
    ) -> Signal {
        self.need = Some(need);
        self.waiting_for = Some(waiting_for);
        self.remedy = Some(remedy);
        self.end = EndRule::Now;
        self
    }
    pub(crate) fn quota(mut self) -> Signal {
        self.quota = true;
        self
    }
    pub(crate) fn reset_in(mut self, s: Option<i64>) -> Signal {
        self.reset_in_s = s;
        self
    }

    /// Fold a later signal of the same class into this one: the first raw
    /// line stays; what a human must do, quota and the newest reset are kept.
    fn absorb(&mut self, later: Signal) {
        if self.need.is_none() && later.need.is_some() {
            self.need = later.need;
            self.waiting_for = later.waiting_for;
            self.remedy = later.remedy;
        }
        self.quota |= later.quota;
        if later.reset_in_s.is_some() {
            self.reset_in_s = later.reset_in_s;
        }
        if later.end == EndRule::Now
            || (later.end == EndRule::Persisting && self.end != EndRule::Now)
        {
            self.end = later.end;
        }
    }
}

/// What one line told a recognizer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Hit {
    pub signal: Option<Signal>,
    /// Evidence the agent got on with its work (a real answer, a completed
    /// turn): failures seen before it were overcome.
    pub progress: bool,
    /// The agent starts another attempt after a failure.
    pub retrying: bool,
}

impl Hit {
    pub(crate) fn signal(s: Signal) -> Hit {
        Hit {
            signal: Some(s),
            ..Hit::default()
        }
    }
    pub(crate) fn progress() -> Hit {
        Hit {
            progress: true,
            ..Hit::default()
        }
    }
}

/// What a recognizer sees of one line: its text, the line before it (some
/// CLIs wrap long messages), and the JSON object if the line is one.
#[derive(Debug, Clone, Copy)]
pub struct LineView<'a> {
    pub text: &'a str,
    pub prev: &'a str,
    /// The line's first non-space character is `{` or `[` (parsed or not):
    /// text rules skip it.
    pub looks_json: bool,
    pub json: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl LineView<'_> {
    /// A plain-text line (stderr chatter, aider's output) containing `needle`.
    pub fn text_has(&self, needle: &str) -> bool {
        !self.looks_json && self.text.contains(needle)
    }
    /// `needle` in this line joined to the one before it (no separator: a
    /// wrapped line keeps its trailing space).
    pub fn joined_has(&self, needle: &str) -> bool {
        if self.looks_json {
            return false;
        }
        if self.text.contains(needle) {
            return true;
        }
        // only a needle that straddles the break needs the joined text
        let mut s = String::with_capacity(self.prev.len() + self.text.len());
        s.push_str(self.prev);
        s.push_str(self.text);
        s.contains(needle)
    }
    /// A string field of the JSON record.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.json?.get(key)?.as_str()
    }
}

/// A recognizer: one line in, what it says out.
pub type Recognizer = fn(&LineView<'_>) -> Hit;

/// The recognizer for an agent binary (a path is reduced to its basename);
/// `None` for a CLI we have no captured output of.
pub fn recognizer_for(agent_binary: &str) -> Option<Recognizer> {
    let name = std::path::Path::new(agent_binary)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(agent_binary);
    rules::for_name(name)
}

/// Every signal of one round, one per class, in precedence order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recognition {
    pub signals: Vec<Signal>,
}

impl Recognition {
    /// The deciding signal (highest precedence), if any.
    pub fn top(&self) -> Option<&Signal> {
        self.signals.first()
    }
    pub fn of(&self, class: Class) -> Option<&Signal> {
        self.signals.iter().find(|s| s.class == class)
    }
    /// The class name the corpus and docs use: `needs_input`,
    /// `refused_root`, `config`, `auth`, `rate_limit`, `network`,
    /// `api_transient_5xx`; `None` when nothing was recognized.
    pub fn class_name(&self) -> Option<&'static str> {
        let s = self.top()?;
        Some(match (s.class, s.need) {
            (Class::NeedsInput, Some("non_root")) => "refused_root",
            (Class::NeedsInput, Some("agent_config")) => "config",
            (Class::NeedsInput, _) => "needs_input",
            (Class::Auth, _) => "auth",
            (Class::RateLimit, _) => "rate_limit",
            (Class::Network, _) => "network",
            (Class::Overloaded, _) => "api_transient_5xx",
        })
    }
    pub(crate) fn add(&mut self, s: Signal) {
        match self.signals.iter_mut().find(|x| x.class == s.class) {
            Some(x) => x.absorb(s),
            None => {
                self.signals.push(s);
                self.signals.sort_by_key(|x| x.class);
            }
        }
    }
}

/// Seconds in a duration a CLI printed: `23.8s`, `14h20m3.5s`, `2s`,
/// `1m5s`, `500ms` (rounded up; `None` if it is not one).
pub fn parse_duration_s(text: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut any = false;
    let mut rest = text.trim();
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 || num_len > 12 {
            break;
        }
        let Ok(n) = rest[..num_len].parse::<f64>() else {
            break;
        };
        rest = &rest[num_len..];
        let (mult, unit_len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else {
            break;
        };
        total += n * mult;
        any = true;
        rest = &rest[unit_len..];
    }
    (any && total.is_finite() && total < 1e9).then(|| total.ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_the_clis_print() {
        assert_eq!(parse_duration_s("23.8s"), Some(24));
        assert_eq!(
            parse_duration_s("14h20m3.5s"),
            Some(14 * 3600 + 20 * 60 + 4)
        );
        assert_eq!(parse_duration_s("2s"), Some(2));
        assert_eq!(parse_duration_s("1m5s."), Some(65));
        assert_eq!(parse_duration_s("500ms"), Some(1));
        assert_eq!(parse_duration_s("soon"), None);
        assert_eq!(parse_duration_s(""), None);
        assert_eq!(parse_duration_s("99999999999999999999s"), None);
    }

    #[test]
    fn precedence_and_folding() {
        let mut r = Recognition::default();
        r.add(Signal::new(Class::Network, "x", "net"));
        r.add(Signal::new(Class::RateLimit, "y", "rl").reset_in(Some(5)));
        r.add(Signal::new(Class::RateLimit, "y", "rl2").quota());
        assert_eq!(r.class_name(), Some("rate_limit"));
        let rl = r
            .of(Class::RateLimit)
            .cloned()
            .unwrap_or_else(|| panic!("rl"));
        assert_eq!(
            (rl.raw.as_str(), rl.quota, rl.reset_in_s),
            ("rl", true, Some(5))
        );
        r.add(Signal::new(Class::NeedsInput, "z", "root").needs("non_root", "w", "r"));
        assert_eq!(r.class_name(), Some("refused_root"));
        assert_eq!(r.signals.len(), 3);
    }
}
