//! The defenses catalogue as data (spec §11 plus 0.3's three additions): what
//! each hard defense is set to, which incident it codifies, which of OUR tests
//! guards it, and its current state computed from the config.
//!
//! `peek --select defenses` shows it; docs are checked against it. This module
//! only describes; it enforces nothing.

use crate::config::Config;
use serde::Serialize;
use serde_json::{json, Value};

/// One defense.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Defense {
    pub name: &'static str,
    pub value: Value,
    pub codifies: &'static str,
    /// `<file>::<test fn>` of the test that fails if the defense breaks.
    pub guarded_by: &'static str,
    /// `active`, `degraded` or `off`.
    pub current_state: &'static str,
}

/// The catalogue for a config, in upstream 0.3 order.
pub fn catalog(cfg: &Config) -> Vec<Defense> {
    let env_keys: Vec<&str> = {
        let mut k: Vec<&str> = cfg.agent.env.iter().map(|(k, _)| k.as_str()).collect();
        k.sort_unstable();
        k
    };
    let d = |name, value: Value, codifies, guarded_by| Defense {
        name,
        value,
        codifies,
        guarded_by,
        current_state: "active",
    };
    vec![
        d(
            "round_budget_s",
            json!(cfg.runtime.round_budget_s),
            "R1128 \u{2014} TaskOutput polling loop 60min, scheduler grace fails to trigger",
            "tests/it/round.rs::budget_kills_a_term_ignoring_agent_and_its_setsid_grandchild",
        ),
        d(
            "process_group_isolation",
            json!("own process group (setsid); TERM -> grace -> KILL to the whole group; escaped descendants found and reaped"),
            "#307 \u{2014} process group reaping for descendant cleanup",
            "tests/it/round_process.rs::term_ignoring_agent_and_setsid_grandchildren_all_die",
        ),
        d(
            "sigterm_reaper",
            json!("serve exits only after the current round completes; systemd KillSignal=SIGTERM + KillMode=mixed, TimeoutStopSec=max(round_budget)+60"),
            "R725 \u{2014} SIGTERM-during-round dual-claude race",
            "tests/it/serve.rs::sigterm_during_a_round_lets_it_finish_then_exits_0",
        ),
        d(
            "orphan_stash_idempotency_s",
            json!(cfg.vcs.stash_idempotency_s),
            "R820 \u{2014} same-second 3 phantom stashes",
            "src/round/vcs.rs::stash_idempotency_is_exact_round",
        ),
        d(
            "sha_locked_stash",
            json!("no stash@{N} index references"),
            "\u{a7}9 IMMUTABLE \u{2014} batch drop by index breaks under concurrent stash",
            "tests/it/round.rs::dirty_tree_is_stashed_once_per_round_by_sha",
        ),
        d(
            "set_diff_classification",
            json!("no unified-diff +/- line parsing anywhere in src/"),
            "R2110 \u{2014} rotation-only diff via +-line scan misclassifies",
            "tests/it/round.rs::dirty_set_is_a_set_diff",
        ),
        Defense {
            name: "critical_envs_injection",
            value: json!(env_keys),
            codifies: "Env injection via [agent.env] block \u{2014} preset-supplied per CLI (e.g. DISABLE_AUTOUPDATER for claude prevents mid-loop self-updates)",
            guarded_by: "tests/it/round_process.rs::env_cwd_stdin_and_session_are_as_specified",
            current_state: if cfg.agent.env.is_empty() { "off" } else { "active" },
        },
        d(
            "startup_smoke_check",
            json!("startup battery (config / log_dir / agent_cli / git / prompt_file / prompt_smoke)"),
            "R721 + #446 \u{2014} _common.md frontmatter caused 4h/123-round silent burn; now halts serve (config_broken) instead of respawning a broken config",
            "tests/it/round.rs::startup_battery_failure_exits_78_with_events",
        ),
        d(
            "crash_loop_breaker",
            json!("stop after 5 consecutive short crashes; exp-escalating delay"),
            "Run 6 \u{2014} crashing agent respawned ~100 empty rounds at a fixed 2x delay",
            "tests/it/serve.rs::agents_failing_fast_trip_the_crash_loop_breaker",
        ),
        d(
            "mem_loop_breaker",
            json!("stop after 5 consecutive mid-round memory-terminated rounds (exit 71, restarts); escalates to a persistent stop (exit 70) if mem_loop itself recurs 3x within a rolling 2h window across restarts"),
            "0.2.15/0.2.16 \u{2014} a host stuck under sustained memory pressure could mem-terminate every round forever with no give-up",
            "tests/it/serve.rs::mem_loop_exits_71_then_70",
        ),
        d(
            "stalled_no_progress_breaker",
            json!("stop after 5 consecutive fast (<30s) exit-0 rounds with no recorded usage (exit 75, same code as crash_loop_breaker)"),
            "0.2.16 \u{2014} some CLIs exit 0 on a provider failure that never reached the model, invisible to crash_loop_breaker",
            "tests/it/serve.rs::stalled_no_progress_exits_75",
        ),
        d(
            "bulk_round_log_prune_guard",
            json!("a prune deleting more files than it keeps deletes nothing"),
            "0.2.4 \u{2014} rounds/ pruning shipped against backlogs it never built; one deployment would have deleted 12,193 of 12,293 transcripts silently",
            "tests/it/serve.rs::bulk_prune_is_deferred",
        ),
        d(
            "flock_concurrency",
            json!("agent-runner.lock"),
            "Architectural \u{2014} prevent concurrent supervisors corrupting state",
            "tests/it/round.rs::a_second_round_at_once_refuses_with_the_holder_and_writes_nothing",
        ),
        d(
            "atomic_state_writes",
            json!("tmp + fsync + rename"),
            "Data integrity \u{2014} crashes never leave half-written state files",
            "src/state/atomic.rs::atomic_write_is_0600_and_leaves_no_temp",
        ),
        d(
            "event_kind_registry",
            json!(format!(
                "Kind registry ({} built-in kinds; EventLog::emit takes a Kind, so an unregistered kind does not compile)",
                crate::state::Kind::ALL.len()
            )),
            "Prevent events.emit() typos / unregistered kinds slipping past CI",
            "src/state/events.rs::registry_is_consistent",
        ),
    ]
}

/// The defenses table of docs/commands.md, generated from [`catalog`] with
/// default values.
pub fn markdown_table(cfg: &Config) -> String {
    let mut s = String::from("| Defense | Codifies | Guarded by |\n|---|---|---|\n");
    for d in catalog(cfg) {
        s.push_str(&format!(
            "| `{}` | {} | `{}` |\n",
            d.name,
            d.codifies.replace('|', "\\|"),
            d.guarded_by
        ));
    }
    s
}

/// Guards named in the catalogue whose test does not exist yet (the lead
/// reconciles these; `guards_exist` fails if any other guard is missing).
pub const PENDING_GUARDS: &[&str] = &[];

#[cfg(test)]
mod tests {
    #[test]
    fn guards_exist() {
        let dir = std::path::Path::new("/nonexistent/p");
        let cfg = crate::config::default_config(dir, &dir.join("logs")).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        for d in super::catalog(&cfg) {
            let (file, func) = d.guarded_by.split_once("::").unwrap();
            let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            if !text.contains(&format!("fn {func}(")) {
                missing.push(d.guarded_by);
            }
        }
        assert_eq!(
            missing,
            super::PENDING_GUARDS,
            "guards missing from the tree"
        );
    }

    #[test]
    fn catalogue_has_fifteen_named_defenses_with_config_values() {
        let dir = std::path::Path::new("/nonexistent/p");
        let mut cfg = crate::config::default_config(dir, &dir.join("logs")).unwrap();
        cfg.runtime.round_budget_s = 777;
        let c = super::catalog(&cfg);
        assert_eq!(c.len(), 15);
        assert_eq!(c[0].name, "round_budget_s");
        assert_eq!(c[0].value, serde_json::json!(777));
        let envs = c
            .iter()
            .find(|d| d.name == "critical_envs_injection")
            .unwrap();
        assert_eq!(envs.current_state, "off");
        cfg.agent.env = vec![("Z".into(), "1".into()), ("A".into(), "2".into())];
        let c = super::catalog(&cfg);
        let envs = c
            .iter()
            .find(|d| d.name == "critical_envs_injection")
            .unwrap();
        assert_eq!(envs.current_state, "active");
        assert_eq!(envs.value, serde_json::json!(["A", "Z"]));
        // implemented (issue 15) and guarded by a test that exists
        let mem = c.iter().find(|d| d.name == "mem_loop_breaker").unwrap();
        assert_eq!(mem.current_state, "active");
        assert_eq!(
            mem.guarded_by,
            "tests/it/serve.rs::mem_loop_exits_71_then_70"
        );
        let names: std::collections::HashSet<_> = c.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), 15);
    }
}
