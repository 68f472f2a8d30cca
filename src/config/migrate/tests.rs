//! `migrate` on small texts: the edge cases of each rule.

use super::migrate_text;
use std::path::Path;

fn run(text: &str) -> super::Migration {
    migrate_text(Path::new("/nonexistent/proj/agent-runner.toml"), text)
        .unwrap_or_else(|e| panic!("{e}"))
}

const BASE: &str = "[agent]\ncommand = [\"a\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n[prompt]\nfile = \"p.md\"\n";

#[test]
fn dotted_keys_are_renamed_where_they_are_written() {
    let m = run(&format!("runtime.round_timeout_s = 5 # five\nruntime.work_dir = \".\"\nruntime.log_dir = \"l\"\n{BASE}"));
    assert!(
        m.new.contains("runtime.round_budget_s = 5 # five\n"),
        "{}",
        m.new
    );
    assert!(m.report.manual.is_empty(), "{:?}", m.report.manual);
}

#[test]
fn what_cannot_be_edited_safely_is_manual() {
    // both names set
    let m = run(&format!("[runtime]\nwork_dir = \".\"\nlog_dir = \"l\"\nround_timeout_s = 5\nround_budget_s = 6\n{BASE}"));
    assert!(
        m.report.manual.iter().any(|s| s.contains("are both set")),
        "{:?}",
        m.report
    );
    assert!(m.new.contains("round_timeout_s = 5"), "left as is");
    // flat keys in an inline table
    let m = run(&format!("[runtime]\nwork_dir = \".\"\nlog_dir = \"l\"\n[monitor]\nhost_health = {{ mem_avail_min_mb = 3 }}\n{BASE}"));
    assert!(
        m.report
            .manual
            .iter()
            .any(|s| s.starts_with("monitor.host_health.mem_avail_min_mb: written 0 time(s)")),
        "{:?}",
        m.report
    );
    // the same setting flat and nested
    let m = run(&format!("[runtime]\nwork_dir = \".\"\nlog_dir = \"l\"\n[monitor.host_health]\ndisk_warning_pct = 80\n[monitor.host_health.disk]\nwarning_pct = 81\n{BASE}"));
    assert!(
        m.report
            .manual
            .iter()
            .any(|s| s.contains("are both set; delete disk_warning_pct")),
        "{:?}",
        m.report
    );
}

#[test]
fn flat_keys_join_an_existing_sub_table() {
    let m = run(&format!("[runtime]\nwork_dir = \".\"\nlog_dir = \"l\"\n[monitor.host_health]\ndisk_warning_pct = 80 # w\nmem_avail_min_mb = 9\n\n[monitor.host_health.disk]\ncritical_pct = 99\n\n{BASE}"));
    assert!(m.report.manual.is_empty(), "{:?}", m.report);
    assert!(
        m.new
            .contains("[monitor.host_health.disk]\ncritical_pct = 99\nwarning_pct = 80 # w\n"),
        "{}",
        m.new
    );
    assert!(
        m.new
            .contains("[monitor.host_health.memory]\navail_min_mb = 9\n"),
        "{}",
        m.new
    );
    let c = crate::config::from_str(Path::new("/nonexistent/proj/agent-runner.toml"), &m.new)
        .unwrap_or_else(|e| panic!("{e}\n{}", m.new));
    assert_eq!(c.monitor.host_health.disk.warning_pct, 80.0);
    assert_eq!(c.monitor.host_health.memory.avail_min_mb, 9);
}

#[test]
fn schema_version_is_replaced_in_place_and_a_clean_file_is_untouched() {
    let text =
        format!("# head\nschema_version = 0\n[runtime]\nwork_dir = \".\"\nlog_dir = \"l\"\n{BASE}");
    let m = run(&text);
    assert!(
        m.new.starts_with("# head\nschema_version = 1\n"),
        "{}",
        m.new
    );
    let clean = format!("schema_version = 1\n[runtime]\nwork_dir = \".\"\nlog_dir = \"l\"\n{BASE}");
    let m = run(clean.trim_end());
    assert!(!m.changed(), "{}", m.new);
    assert!(m.report.applied.is_empty());
}

#[test]
fn multibyte_text_and_multi_line_values_do_not_confuse_it() {
    let m = run(&format!(
        "[runtime]\nwork_dir = \".\"\nlog_dir = \"l\" # — ünïcode\nround_timeout_s = 7 # “quoted”\n[monitor]\nauth_fail_hint = \"\"\"\nround_timeout_s = 1 — not a key\n\"\"\"\n{BASE}"
    ));
    assert!(m.new.contains("round_budget_s = 7 # “quoted”"), "{}", m.new);
    assert!(
        m.new.contains("round_timeout_s = 1 — not a key"),
        "{}",
        m.new
    );
}

#[test]
fn what_the_loader_still_refuses_is_manual_naming_the_key() {
    // an unknown key, and an anomaly threshold above its window
    for (extra, key) in [
        ("[runtime]\nwork_dir = \".\"\nlog_dir = \"l\"\nbogus = 1\n", "runtime.bogus"),
        (
            "[runtime]\nwork_dir = \".\"\nlog_dir = \"l\"\n[monitor]\nanomaly_repetitive_window = 2\nanomaly_repetitive_threshold = 5\n",
            "monitor.anomaly_repetitive_threshold",
        ),
    ] {
        let m = run(&format!("schema_version = 1\n{extra}{BASE}"));
        assert!(!m.changed(), "{}", m.new);
        assert_eq!(m.report.manual.len(), 1, "{:?}", m.report);
        assert!(
            m.report.manual[0].starts_with(&format!("{key}: "))
                && m.report.manual[0].ends_with("(still refused after the rewrites)"),
            "{:?}",
            m.report.manual
        );
    }
}
