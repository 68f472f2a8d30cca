//! `doctor`'s text: the Python tool's sections and lines (`checks:`,
//! `window overlaps:`, `phase plan:`, `cooperative presets:`, `sigterm
//! grace:`, `cgroup:`), then ours (`memory:`, `agent:`, `config:`,
//! `warnings:`) and a last line saying whether every check passed.

use super::Report;
use std::fmt::Write as _;

pub(super) fn render(r: &Report) -> String {
    let mut s = String::from("checks:\n");
    for c in &r.checks {
        if c.ok {
            let _ = writeln!(s, "  [ok] {}", c.name);
            continue;
        }
        let fix = if c.how_to_fix.is_empty() {
            String::new()
        } else {
            format!(" (fix: {})", c.how_to_fix)
        };
        let kind = if c.permanent { "permanent" } else { "may heal" };
        let _ = writeln!(s, "  [FAIL] {} \u{2014} {}{fix} [{kind}]", c.name, c.reason);
    }
    if !r.overlaps.is_empty() {
        s.push_str("window overlaps:\n");
        for o in &r.overlaps {
            let _ = writeln!(s, "  {}", o.describe());
        }
    }
    s.push_str("phase plan:\n");
    for p in &r.plan {
        let what = if p.paused {
            match (&p.resume_at, &p.active_window) {
                (Some(at), _) => format!(
                    "paused -> resumes {} at {at}",
                    p.resume_phase.as_deref().unwrap_or("base")
                ),
                (None, Some(w)) => format!("paused ({w})"),
                (None, None) => "paused".to_string(),
            }
        } else {
            p.phase.clone().unwrap_or_else(|| "base".to_string())
        };
        let _ = writeln!(s, "  round {}: {what}", p.round);
    }
    let coop: Vec<String> = r
        .cooperative
        .iter()
        .map(|(a, sig)| format!("{a} ({sig})"))
        .collect();
    let _ = writeln!(s, "cooperative presets: {}", coop.join(", "));
    let g = &r.sigterm_grace;
    let signal = g
        .signal
        .as_ref()
        .map(|x| format!(", signal={x}"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "sigterm grace: {}s ({}{signal}, agent={})",
        g.resolved_s,
        if g.cooperative {
            "cooperative"
        } else {
            "non-cooperative"
        },
        g.agent
    );
    s.push_str("cgroup:\n");
    for l in r.memory.cgroup_lines() {
        let _ = writeln!(s, "  {l}");
    }
    s.push_str("memory:\n");
    for l in r.memory.memory_lines() {
        let _ = writeln!(s, "  {l}");
    }
    let _ = writeln!(
        s,
        "agent: {}{}",
        g.agent,
        r.agent_name
            .as_ref()
            .map(|n| format!(" (name: {n})"))
            .unwrap_or_default()
    );
    s.push_str("config:\n");
    let width = r.config.iter().map(|c| c.key.len()).max().unwrap_or(0);
    for c in &r.config {
        let written = c
            .written_as
            .as_ref()
            .map(|w| format!(", written as {w}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {:width$} = {}  ({}{written})",
            c.key, c.value, c.source
        );
    }
    if !r.warnings.is_empty() {
        s.push_str("warnings:\n");
        for w in &r.warnings {
            let _ = writeln!(s, "  {w}");
        }
    }
    let failed = r.checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        s.push_str("ok: every check passed\n");
    } else {
        let _ = writeln!(s, "FAIL: {failed} check(s) failed");
    }
    s
}
