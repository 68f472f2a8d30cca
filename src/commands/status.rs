//! `agent-runner status`: the service state, as text or `--json`.

use super::{load_config, print_json_or, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service::{self, ServiceError, ServiceStatus};

pub fn run(g: &GlobalArgs) -> CmdResult {
    let cfg = load_config(g)?;
    let s = read(&cfg)?;
    print_json_or(g, &s.to_json(), &text(&s));
    Ok(exit_code::OK)
}

fn read(cfg: &crate::config::Config) -> Result<ServiceStatus, CliError> {
    service::status(cfg).map_err(|e| match e {
        ServiceError::PidFile(_) => CliError::failure(format!(
            "{e} (remove it if no serve is running, then retry)"
        )),
        _ => CliError::failure(e.to_string()),
    })
}

/// What `start`, `stop`, `kill` and `restart` print with `--json`: the
/// status record after the verb, as upstream prints it, with the verb's own
/// keys (`started`, `stopped`, `killed`, …) added after it. `over` replaces
/// status keys the verb knows better (the pid it just killed).
pub(super) fn document(
    cfg: &crate::config::Config,
    over: &serde_json::Value,
    extra: &serde_json::Value,
) -> Result<serde_json::Value, CliError> {
    let mut doc = read(cfg)?.to_json();
    if let (Some(d), Some(o)) = (doc.as_object_mut(), over.as_object()) {
        for (k, v) in o {
            d.insert(k.clone(), v.clone());
        }
    }
    if let (Some(d), Some(x)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            d.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(doc)
}

fn text(s: &ServiceStatus) -> String {
    let mut text = format!(
        "project: {}\nmode: {}\nactive: {}",
        s.project,
        s.mode.as_str(),
        s.active
    );
    if s.never_ran {
        text.push_str("\nthis project has never run (no log_dir yet); start it with 'agent-runner start' or 'agent-runner serve'");
    }
    if let Some(p) = s.pid {
        text.push_str(&format!("\npid: {p}"));
    }
    if let Some(u) = s.uptime_s {
        text.push_str(&format!("\nuptime: {u:.0}s"));
    }
    if let Some(r) = s.current_round {
        text.push_str(&format!(
            "\ncurrent round: {r} (running for {}s)",
            s.current_round_age_s.unwrap_or(0)
        ));
    }
    if let Some(l) = s.last.as_ref() {
        text.push_str(&format!(
            "\nlast round: {} (exit {}, {})",
            l.round_num,
            l.last_exit_code.unwrap_or(0),
            s.last_exit_cause.as_deref().unwrap_or("?")
        ));
    }
    if let Some(t) = s.throttle.as_ref() {
        text.push_str(&format!(
            "\nrate limited: {} for {} until epoch {}",
            t.classification, t.agent, t.reset_at_epoch
        ));
    }
    if s.stale_pid_file {
        text.push_str("\nnote: serve.pid is stale (its process is gone); it will be replaced at the next start");
    }
    text
}
