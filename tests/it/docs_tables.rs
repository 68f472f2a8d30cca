//! docs/commands.md's detector and defense tables are generated from the code
//! (`AGENT_RUNNER_BLESS=1 cargo test --test it docs_tables` rewrites them).

/// Both tests read and rewrite the same file: one at a time, so a bless run
/// cannot lose one table's update to the other.
static DOC: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check(begin: &str, end: &str, table: &str) {
    let _doc = DOC.lock().unwrap_or_else(|e| e.into_inner());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/commands.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let b = doc
        .find(begin)
        .unwrap_or_else(|| panic!("{begin} missing in docs/commands.md"));
    let e = doc
        .find(end)
        .unwrap_or_else(|| panic!("{end} missing in docs/commands.md"));
    let current = &doc[b + begin.len()..e];
    let want = format!("\n{table}");
    if current != want {
        if std::env::var_os("AGENT_RUNNER_BLESS").is_some() {
            let new = format!("{}{want}{}", &doc[..b + begin.len()], &doc[e..]);
            std::fs::write(&path, new).unwrap();
            return;
        }
        panic!("docs/commands.md table between {begin} and {end} is out of date; run AGENT_RUNNER_BLESS=1 cargo test --test it docs_tables\n--- want ---\n{want}--- have ---\n{current}");
    }
}

#[test]
fn detectors_table_matches_code() {
    check(
        "<!-- detectors:begin -->",
        "<!-- detectors:end -->",
        &agent_runner::detect::markdown_table(),
    );
}

#[test]
fn defenses_table_matches_code() {
    let d = std::path::Path::new("/nonexistent/p");
    let cfg = agent_runner::config::default_config(d, &d.join("logs")).unwrap();
    check(
        "<!-- defenses:begin -->",
        "<!-- defenses:end -->",
        &agent_runner::defenses::markdown_table(&cfg),
    );
}

/// The figures the docs give for what observation reads are the code's.
#[test]
fn observation_window_figures_match_code() {
    use agent_runner::snapshot::{RECENT_EVENTS, RECENT_METRICS, TAIL_FILES};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let commands = std::fs::read_to_string(root.join("docs/commands.md")).unwrap();
    for needle in [
        format!("the newest {RECENT_EVENTS} events, read backwards"),
        format!("newest {RECENT_METRICS} metrics samples"),
        format!("the tails of the newest {TAIL_FILES} round logs"),
        format!("The first poll reads the newest {RECENT_EVENTS} events backwards"),
    ] {
        assert!(
            commands.contains(&needle),
            "docs/commands.md should say '{needle}'"
        );
    }
    let compat = std::fs::read_to_string(root.join("docs/compat.md")).unwrap();
    assert!(
        compat.contains(&format!("the newest {RECENT_EVENTS} events backwards")),
        "docs/compat.md should say 'the newest {RECENT_EVENTS} events backwards'"
    );
}
