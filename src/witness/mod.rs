//! Layer 3, the witness: pure detectors over a [`window::Window`], per-episode
//! de-duplication, and the local monitor with its sinks (text/JSON lines,
//! narration, event stream, HTTP page).
//!
//! Detectors never do I/O; the monitor loop gathers the window (locally from
//! the log_dir, later from a remote `probe`) and acts on alerts.

pub mod dedup;
pub mod detectors;
pub mod http;
pub mod monitor;
pub mod narrate;
pub mod window;

#[cfg(test)]
mod tests;

/// One-line JSON as Python's `json.dumps` default writes it: `", "`/`": "`
/// separators and every non-ASCII character escaped as `\uXXXX`.
pub fn ascii_json_line(v: &serde_json::Value) -> String {
    let s = crate::state::pyjson::to_line(v);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// A config with the defaults for every field, rooted at `work_dir` and
/// logging to `log_dir` (through the real loader, so defaults never drift).
/// For tests and benchmarks over a bare log_dir; real runs load
/// `agent-runner.toml` with [`crate::config::load`].
#[doc(hidden)]
pub fn default_config(
    work_dir: &std::path::Path,
    log_dir: &std::path::Path,
) -> Result<crate::config::Config, crate::config::ConfigError> {
    let q = |p: &std::path::Path| toml::Value::String(p.display().to_string()).to_string();
    let text = format!(
        "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = {}\nlog_dir = {}\n\n[prompt]\nfile = \"prompts/main.md\"\n",
        q(work_dir),
        q(log_dir)
    );
    crate::config::load::from_str(&work_dir.join("agent-runner.toml"), &text)
}
