//! Post-round output parsers for the agent CLIs (claude stream-json, gemini,
//! codex, codewhale, kimi, pi): usage, transient errors with their reset
//! time, auth errors, repetitive tool calls (spec §6.13, delta §13). Also the
//! bounded log readers they need (tail, head) and the network-blip scan
//! (spec §6.9).
//!
//! The parsers are pure functions over text the caller read: they return the
//! events to emit, in upstream emission order, with payloads in registry
//! order. They do not write events, read config, or touch the clock (the
//! caller passes `now_epoch`). Only the readers in `tail` and `blip` do I/O.
//!
//! After `round_end` the round does:
//! `post_round_events_with_head(&ParseInput { log_tail:
//! &tail_for_parsers(log, TAIL_JSON_LINES), .. }, &head_for_parsers(log,
//! HEAD_LINES))` and emits each returned `(Kind, payload)` as is.

mod blip;
mod claude;
mod codewhale;
mod codex;
mod gemini;
mod kimi;
mod pi;
mod pyval;
mod registry;
mod tail;
#[cfg(test)]
mod tests_upstream;

pub use blip::{network_blip, network_blip_in_file};
pub use registry::{disable_warnings, parser_for, renamed, BUILTIN};
pub use tail::{head_for_parsers, tail_for_parsers};

use crate::state::Kind;
use serde_json::{Map, Value};

/// How many JSON-looking lines at the end of the log the parsers read
/// (upstream `_TAIL_LINES`, delta §13).
pub const TAIL_JSON_LINES: usize = 200;
/// How many lines at the head of the log the pi parser scans for its
/// `session` header (upstream `_SESSION_HEAD_LINES`).
pub const HEAD_LINES: usize = 20;
/// `raw` keeps this many characters of the source text, then is redacted.
pub const RAW_CAP: usize = 200;

/// What a parser sees of a finished round.
#[derive(Debug, Clone, Copy)]
pub struct ParseInput<'a> {
    /// Basename of `command[0]` (a path is reduced to its basename).
    pub agent_binary: &'a str,
    /// The end of the round log, e.g. from [`tail_for_parsers`]. Parsers
    /// keep only its last [`TAIL_JSON_LINES`] JSON-looking lines.
    pub log_tail: &'a str,
    pub round_num: u64,
    pub phase: Option<&'a str>,
    /// Exit 0 and not timed out (upstream `RoundResult.ok`).
    pub success: bool,
    /// `[monitor] anomaly_repetitive_window` (0 = off).
    pub repetitive_window: u64,
    /// `[monitor] anomaly_repetitive_threshold` (0 = off).
    pub repetitive_threshold: u64,
    /// Unix seconds "now", the base of estimated reset times.
    pub now_epoch: i64,
}

/// One event to emit: its kind and its payload in registry order.
pub type ParsedEvent = (Kind, Map<String, Value>);

/// The events the built-in parser for `input.agent_binary` derives from the
/// round's output, in upstream emission order: transient error or auth error,
/// then usage, then the repetitive-tool anomaly. Unknown agents: none.
///
/// Same as [`post_round_events_with_head`] with an empty head: pi's
/// `duration_ms` then comes from a `session` header only if it is still in
/// `log_tail` (short rounds), else 0.
pub fn post_round_events(input: &ParseInput<'_>) -> Vec<ParsedEvent> {
    post_round_events_with_head(input, "")
}

/// [`post_round_events`] with the first lines of the round log
/// ([`head_for_parsers`]`(log, `[`HEAD_LINES`]`)`), where pi's `session`
/// header (the round's start time, for `duration_ms`) lives even when a long
/// round pushed it out of the tail. Other parsers ignore the head.
pub fn post_round_events_with_head(input: &ParseInput<'_>, log_head: &str) -> Vec<ParsedEvent> {
    let name = std::path::Path::new(input.agent_binary)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(input.agent_binary);
    let events = json_events(input.log_tail);
    let found = match name {
        "claude" => claude::parse(&events, input),
        "gemini" => gemini::parse(&events, input),
        "codewhale" => codewhale::parse(&events, input),
        "codex" => codex::parse(&events, input),
        "kimi" => kimi::parse(&events, input),
        "pi" => {
            let head = if log_head.is_empty() {
                input.log_tail
            } else {
                log_head
            };
            pi::parse(&events, input, head)
        }
        _ => Found::default(),
    };
    found.into_events(input)
}

/// The line's first non-space character is `{` or `[` (upstream's test for
/// a JSON line).
pub(crate) fn looks_json(line: &str) -> bool {
    tail::is_json_looking(line)
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn take_prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What a recognizer keeps of a source line: enough to cap and redact it
/// later ([`capped_redacted`] needs the text past the cap).
pub(crate) fn cap_raw(s: &str) -> String {
    pyval::take_chars(s, 4 * RAW_CAP)
}

/// One event laid out in its kind's registry order (see [`ordered`]).
pub(crate) fn ordered_event(kind: Kind, values: Vec<(&'static str, Value)>) -> ParsedEvent {
    ordered(kind, values)
}

/// The JSON objects among the last [`TAIL_JSON_LINES`] JSON-looking lines of
/// `text` (first non-space character `{` or `[`), in order. Chatter is
/// filtered before windowing, as upstream's `json_tail` does, so a burst of
/// plain text cannot push the terminal record out of the window.
pub(crate) fn json_events(text: &str) -> Vec<Map<String, Value>> {
    let looking: Vec<&str> = tail::universal_lines(text)
        .filter(|l| tail::is_json_looking(l))
        .collect();
    let start = looking.len().saturating_sub(TAIL_JSON_LINES);
    looking[start..]
        .iter()
        .filter_map(|l| match serde_json::from_str::<Value>(tail::py_strip(l)) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        })
        .collect()
}

/// The transient buckets (upstream `_CLASSIFICATIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    RateLimitAccount,
    RateLimitModel,
    ApiTransient5xx,
    ApiTimeout,
}

impl Classification {
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::RateLimitAccount => "rate_limit_account",
            Classification::RateLimitModel => "rate_limit_model",
            Classification::ApiTransient5xx => "api_transient_5xx",
            Classification::ApiTimeout => "api_timeout",
        }
    }

    /// Estimated back-off for buckets without a server-given reset time
    /// (upstream `_BACK_OFF_DEFAULTS`); the account bucket's default is the
    /// claude parser's now+300.
    pub fn default_backoff_s(self) -> i64 {
        match self {
            Classification::RateLimitAccount => 300,
            Classification::RateLimitModel | Classification::ApiTransient5xx => 60,
            Classification::ApiTimeout => 30,
        }
    }
}

/// The one HTTP-status ladder every parser uses (upstream
/// `classify_transient_status`): 429 → model rate limit; 500/502/503/504/529
/// → 5xx; 408 → timeout. Only JSON integers count; 401/404 and the rest are
/// not transient.
pub(crate) fn classify_status(v: Option<&Value>) -> Option<Classification> {
    classify_code(v.and_then(pyval::json_int)?)
}

pub(crate) fn classify_code(code: i64) -> Option<Classification> {
    match code {
        429 => Some(Classification::RateLimitModel),
        500 | 502 | 503 | 504 | 529 => Some(Classification::ApiTransient5xx),
        408 => Some(Classification::ApiTimeout),
        _ => None,
    }
}

/// Does an error text a CLI wrote in its *structured* output name an
/// authentication failure? Only consulted on records that already are
/// errors (never on free text), so prose merely mentioning "401" in a
/// successful round cannot trigger it.
pub(crate) fn auth_text(text: &str) -> bool {
    static RE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)\b(401|403|unauthori[sz]ed|forbidden|authentication[_ ]?(error|failed|required)|failed to authenticate|invalid[ _-]?(api[ _-]?key|x-api-key|authentication|credentials|oauth|bearer|access)|incorrect api key|api key not valid|oauth token (has )?expired|token (has )?expired|permission[_ ]denied)\b",
        )
        .ok()
    });
    RE.as_ref().is_some_and(|re| re.is_match(text))
}

/// A transient error a parser found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transient {
    pub classification: Classification,
    pub agent: &'static str,
    pub reset_at_epoch: i64,
    /// Source text, not yet capped or redacted.
    pub raw: String,
}

impl Transient {
    /// A bucket with the estimated back-off from `now`.
    pub fn estimated(c: Classification, agent: &'static str, now: i64, raw: String) -> Self {
        Transient {
            classification: c,
            agent,
            reset_at_epoch: now.saturating_add(c.default_backoff_s()),
            raw,
        }
    }
}

/// An auth failure the CLI itself reported.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AuthError {
    pub agent: &'static str,
    pub raw: String,
}

/// Usage of one round (fields of `agent_usage_recorded` the parser knows).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Usage {
    pub agent: &'static str,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_usd: Value,
    pub duration_ms: i64,
    pub models_breakdown: Value,
    pub cache_creation_tokens: i64,
    pub tool_call_count: i64,
    /// `None`: the round's `success`; `Some`: the parser's own verdict (pi).
    pub success: Option<bool>,
}

impl Usage {
    pub fn new(agent: &'static str, model: String) -> Self {
        Usage {
            agent,
            model,
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            cost_usd: Value::Null,
            duration_ms: 0,
            models_breakdown: Value::Null,
            cache_creation_tokens: 0,
            tool_call_count: 0,
            success: None,
        }
    }
}

/// The claude parser's repetitive-tool finding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Anomaly {
    pub tool_name: String,
    pub target: Option<String>,
    pub count: u64,
    pub window: u64,
}

/// What one parser found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub transient: Option<Transient>,
    pub auth: Option<AuthError>,
    pub usage: Option<Usage>,
    pub anomaly: Option<Anomaly>,
}

impl Found {
    fn into_events(self, input: &ParseInput<'_>) -> Vec<ParsedEvent> {
        let phase = input.phase.unwrap_or("");
        let mut out = Vec::new();
        if let Some(t) = self.transient {
            out.push(ordered(
                Kind::TransientErrorDetected,
                vec![
                    ("classification", t.classification.as_str().into()),
                    ("agent", t.agent.into()),
                    ("reset_at_epoch", t.reset_at_epoch.into()),
                    ("round_num", input.round_num.into()),
                    ("raw", capped_redacted(&t.raw).into()),
                    ("phase", phase.into()),
                ],
            ));
        }
        if let Some(a) = self.auth {
            out.push(ordered(
                Kind::AgentAuthErrorDetected,
                vec![
                    ("round_num", input.round_num.into()),
                    ("agent", a.agent.into()),
                    ("raw", capped_redacted(&a.raw).into()),
                ],
            ));
        }
        if let Some(u) = self.usage {
            out.push(ordered(
                Kind::AgentUsageRecorded,
                vec![
                    ("agent", u.agent.into()),
                    ("model", u.model.into()),
                    ("round_num", input.round_num.into()),
                    ("input_tokens", u.input_tokens.into()),
                    ("output_tokens", u.output_tokens.into()),
                    ("cached_tokens", u.cached_tokens.into()),
                    ("cost_usd", u.cost_usd),
                    ("duration_ms", u.duration_ms.into()),
                    ("models_breakdown", u.models_breakdown),
                    ("cache_creation_tokens", u.cache_creation_tokens.into()),
                    ("tool_call_count", u.tool_call_count.into()),
                    ("phase", phase.into()),
                    ("success", u.success.unwrap_or(input.success).into()),
                ],
            ));
        }
        if let Some(a) = self.anomaly {
            out.push(ordered(
                Kind::AnomalyRepetitiveTool,
                vec![
                    ("round_num", input.round_num.into()),
                    ("tool_name", a.tool_name.into()),
                    ("target", a.target.map_or(Value::Null, Value::String)),
                    ("count", a.count.into()),
                    ("window", a.window.into()),
                ],
            ));
        }
        out
    }
}

/// `raw`: the first [`RAW_CAP`] characters of the source, then redacted
/// (upstream order: the cap is applied by the parser, redaction at emit).
///
/// One guard upstream lacks: when the cap cuts a token in two and that token
/// is masked in the redacted full text, the surviving half (too short to
/// match any rule, e.g. `sk-abcdef`) is masked too, so a secret split by the
/// cut cannot slip through (delta §11). Otherwise the output is upstream's.
pub(crate) fn capped_redacted(raw: &str) -> String {
    let cut = pyval::take_chars(raw, RAW_CAP);
    let mut out = crate::redact::redact(&cut);
    let split_token = raw[cut.len()..]
        .chars()
        .next()
        .is_some_and(|c| !c.is_whitespace())
        && cut.chars().next_back().is_some_and(|c| !c.is_whitespace());
    if split_token {
        let tok_start = out
            .char_indices()
            .rev()
            .find(|&(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let tok = &out[tok_start..];
        if !tok.is_empty() && !tok.contains(crate::redact::MASK) {
            let full = crate::redact::redact(raw);
            if !full.contains(tok) {
                out.truncate(tok_start);
                out.push_str(crate::redact::MASK);
            }
        }
    }
    out
}

/// Lay `values` out in the kind's registry order. Every registered field is
/// present (null when a parser has no value); a value for an unregistered
/// field is a programming error caught in debug builds and dropped.
fn ordered(kind: Kind, mut values: Vec<(&'static str, Value)>) -> (Kind, Map<String, Value>) {
    debug_assert!(
        values.iter().all(|(k, _)| kind.fields().contains(k)),
        "unregistered field for {}",
        kind.as_str()
    );
    let mut m = Map::with_capacity(kind.fields().len());
    for field in kind.fields() {
        let v = values
            .iter()
            .position(|(k, _)| k == field)
            .map_or(Value::Null, |i| values.swap_remove(i).1);
        m.insert((*field).to_string(), v);
    }
    (kind, m)
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub const NOW: i64 = 1_800_000_000;

    pub fn input<'a>(agent: &'a str, tail: &'a str) -> ParseInput<'a> {
        ParseInput {
            agent_binary: agent,
            log_tail: tail,
            round_num: 7,
            phase: None,
            success: true,
            repetitive_window: 0,
            repetitive_threshold: 0,
            now_epoch: NOW,
        }
    }

    /// The payload of the only event of `kind`, or a panic naming what was
    /// emitted instead.
    pub fn only(events: &[ParsedEvent], kind: Kind) -> Map<String, Value> {
        let of_kind: Vec<_> = events.iter().filter(|(k, _)| *k == kind).collect();
        assert_eq!(
            of_kind.len(),
            1,
            "want one {} in {:?}",
            kind.as_str(),
            events.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()
        );
        of_kind[0].1.clone()
    }

    pub fn kinds(events: &[ParsedEvent]) -> Vec<&'static str> {
        events.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// Every payload's keys, iterated, equal the registry order.
    pub fn assert_registry_order(events: &[ParsedEvent]) {
        for (k, m) in events {
            let keys: Vec<&str> = m.keys().map(String::as_str).collect();
            assert_eq!(keys, k.fields(), "payload order of {}", k.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use serde_json::json;

    /// Field order of each kind the parsers emit, as upstream's emit
    /// functions write them (`_emit/agent.py`, 0.3.14).
    #[test]
    fn registry_order_matches_upstream_for_parser_kinds() {
        assert_eq!(
            Kind::TransientErrorDetected.fields(),
            [
                "classification",
                "agent",
                "reset_at_epoch",
                "round_num",
                "raw",
                "phase"
            ]
        );
        assert_eq!(
            Kind::AgentUsageRecorded.fields(),
            [
                "agent",
                "model",
                "round_num",
                "input_tokens",
                "output_tokens",
                "cached_tokens",
                "cost_usd",
                "duration_ms",
                "models_breakdown",
                "cache_creation_tokens",
                "tool_call_count",
                "phase",
                "success"
            ]
        );
        assert_eq!(
            Kind::AnomalyRepetitiveTool.fields(),
            ["round_num", "tool_name", "target", "count", "window"]
        );
        assert_eq!(
            Kind::AgentAuthErrorDetected.fields(),
            ["round_num", "agent", "raw"]
        );
        assert_eq!(
            Kind::AgentNetworkBlip.fields(),
            [
                "round_num",
                "phase",
                "matched",
                "round_duration_s",
                "exit_code",
                "timed_out"
            ]
        );
    }

    #[test]
    fn emitted_payloads_follow_registry_order() {
        let f = Found {
            transient: Some(Transient::estimated(
                Classification::ApiTimeout,
                "claude",
                NOW,
                "x".into(),
            )),
            auth: Some(AuthError {
                agent: "pi",
                raw: "401".into(),
            }),
            usage: Some(Usage::new("gemini", "m".into())),
            anomaly: Some(Anomaly {
                tool_name: "Read".into(),
                target: None,
                count: 3,
                window: 5,
            }),
        };
        let ev = f.into_events(&input("claude", ""));
        assert_eq!(
            kinds(&ev),
            [
                "transient_error_detected",
                "agent_auth_error_detected",
                "agent_usage_recorded",
                "anomaly_repetitive_tool"
            ]
        );
        assert_registry_order(&ev);
    }

    #[test]
    fn phase_is_empty_string_when_none_like_upstream() {
        let f = Found {
            transient: Some(Transient::estimated(
                Classification::RateLimitModel,
                "gemini",
                NOW,
                String::new(),
            )),
            ..Found::default()
        };
        let ev = f.into_events(&input("gemini", ""));
        assert_eq!(ev[0].1["phase"], json!(""));
        let mut i = input("gemini", "");
        i.phase = Some("plan");
        let f = Found {
            usage: Some(Usage::new("gemini", "m".into())),
            ..Found::default()
        };
        assert_eq!(f.into_events(&i)[0].1["phase"], json!("plan"));
    }

    #[test]
    fn raw_is_capped_then_redacted() {
        let secret = format!("{}Bearer abcdefghijklmnopqrstuvwxyz", "x ".repeat(90));
        let f = Found {
            transient: Some(Transient::estimated(
                Classification::RateLimitModel,
                "claude",
                NOW,
                secret,
            )),
            ..Found::default()
        };
        let raw = f.into_events(&input("claude", ""))[0].1["raw"].clone();
        // 180 chars of filler + "Bearer " + 13 token chars = 200, then masked
        assert_eq!(raw, json!(format!("{}Bearer <redacted>", "x ".repeat(90))));
    }

    #[test]
    fn raw_secret_split_by_the_cap_is_masked() {
        let src = format!("{} sk-abcdefghijklmnopqrstuvwxyz tail", "x".repeat(190));
        // the cap keeps "sk-abcdef" (9 chars): too short for rule 10 alone
        assert_eq!(
            capped_redacted(&src),
            format!("{} <redacted>", "x".repeat(190))
        );
        // a plain word split by the cap stays as upstream leaves it
        let src = format!("{} abcdefghijklmnop", "x".repeat(190));
        assert_eq!(
            capped_redacted(&src),
            format!("{} abcdefghi", "x".repeat(190))
        );
        // short text: untouched path
        assert_eq!(
            capped_redacted("Bearer abcdefghijklmnop"),
            "Bearer <redacted>"
        );
    }

    #[test]
    fn json_window_filters_chatter_before_windowing() {
        let mut log = String::from("{\"type\":\"result\",\"n\":0}\n");
        for i in 1..=TAIL_JSON_LINES {
            log.push_str(&format!("{{\"n\":{i}}}\nplain chatter\n\n"));
        }
        let ev = json_events(&log);
        assert_eq!(ev.len(), TAIL_JSON_LINES);
        assert_eq!(ev[0]["n"], json!(1), "oldest JSON line falls out");
        // chatter, arrays and broken lines are skipped; \r separates lines
        let ev = json_events("  {\"a\":1}\r[1,2]\n{broken\nnoise {\"b\":2}\n\t{\"c\":3}");
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1]["c"], json!(3));
    }

    #[test]
    fn status_ladder() {
        for (code, want) in [
            (429, Some("rate_limit_model")),
            (500, Some("api_transient_5xx")),
            (502, Some("api_transient_5xx")),
            (503, Some("api_transient_5xx")),
            (504, Some("api_transient_5xx")),
            (529, Some("api_transient_5xx")),
            (408, Some("api_timeout")),
            (501, None),
            (401, None),
            (404, None),
        ] {
            assert_eq!(
                classify_status(Some(&json!(code))).map(Classification::as_str),
                want,
                "{code}"
            );
        }
        assert_eq!(classify_status(Some(&json!("429"))), None);
        assert_eq!(classify_status(Some(&json!(429.0))), None);
        assert_eq!(classify_status(Some(&json!(true))), None);
        assert_eq!(classify_status(None), None);
    }

    #[test]
    fn auth_text_vocabulary() {
        for t in [
            "Failed to authenticate. API Error: 401 {\"type\":\"authentication_error\"}",
            "Invalid API key · Please run /login",
            "OAuth token has expired. Please obtain a new token",
            "unexpected status 401 Unauthorized: {\"detail\":\"Unauthorized\"}",
            "API key not valid. Please pass a valid API key.",
            "Request had invalid authentication credentials.",
            "403 Forbidden",
        ] {
            assert!(auth_text(t), "{t}");
        }
        for t in [
            "rate limited",
            "model not found",
            "4010 tokens",
            "overloaded",
        ] {
            assert!(!auth_text(t), "{t}");
        }
    }

    #[test]
    fn unknown_agent_and_path_binary() {
        let tail = r#"{"type":"result","is_error":false,"usage":{"input_tokens":1}}"#;
        assert!(post_round_events(&input("aider", tail)).is_empty());
        let ev = post_round_events(&input("/usr/local/bin/claude", tail));
        assert_eq!(kinds(&ev), ["agent_usage_recorded"]);
    }
}
