//! Post-round output parsers for the agent CLIs (claude stream-json, gemini,
//! codex, codewhale, kimi, pi): usage, transient errors with their reset time,
//! auth errors, repetitive tool calls. Pure functions over the log's tail.

// TEMPORARY shim until the parsers branch lands (replaced on merge).
pub struct ParseInput<'a> {
    pub agent_binary: &'a str,
    pub log_tail: &'a str,
    pub round_num: u64,
    pub phase: Option<&'a str>,
    pub success: bool,
    pub repetitive_window: u64,
    pub repetitive_threshold: u64,
    pub now_epoch: i64,
}
pub fn post_round_events(
    _i: &ParseInput,
) -> Vec<(
    crate::state::Kind,
    serde_json::Map<String, serde_json::Value>,
)> {
    Vec::new()
}
pub fn tail_for_parsers(p: &std::path::Path, n: usize) -> String {
    crate::state::events::tail_lines(p, n).join("\n")
}
pub fn network_blip_in_file(p: &std::path::Path) -> Option<String> {
    let t = std::fs::read_to_string(p).ok()?;
    let re = regex::Regex::new(r"(?i)\b(connection refused|econnrefused|dns|name or service not known|connect(ion)? timed out|nodename nor servname|network unreachable|50[023] (service unavailable|bad gateway|gateway timeout)|connection reset)\b").ok()?;
    re.find(&t).map(|m| m.as_str().to_string())
}
