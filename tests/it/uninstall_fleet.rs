//! `uninstall --fleet FILE` removes the fleet monitor unit `install --fleet
//! FILE` wrote (issue 16: uninstall used to leave it), leaves a fleet unit
//! that watches another hosts file, and — as in 0.3.14 — does not fail for
//! lack of a user bus (HOME is a temp dir here; systemctl --user cannot reach
//! a manager).

use crate::support::*;
use std::path::Path;

/// Write the units `install --dry-run` prints, as `install` would.
fn install_dry_run(p: &Project, args: &[&str]) -> Vec<std::path::PathBuf> {
    let mut a = vec!["install", "--dry-run"];
    a.extend_from_slice(args);
    let o = p.run(&a);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    // each unit: a "# /path" line, then its text
    let mut units: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        match (line.strip_prefix("# /"), units.last_mut()) {
            (Some(rest), _) => units.push((format!("/{rest}"), String::new())),
            (None, Some((_, body))) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => panic!("no unit path before: {line}"),
        }
    }
    let mut written = Vec::new();
    for (path, body) in units {
        let path = Path::new(&path).to_path_buf();
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&path, body).unwrap_or_else(|e| panic!("{e}"));
        written.push(path);
    }
    written
}

#[test]
fn uninstall_fleet_removes_the_fleet_unit_install_wrote() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    let hosts = p.dir.join("hosts.toml");
    std::fs::write(&hosts, "[defaults]\n").unwrap_or_else(|e| panic!("{e}"));
    let units = install_dry_run(&p, &["--fleet", "hosts.toml"]);
    assert_eq!(units.len(), 2, "{units:?}");
    assert!(units.iter().all(|u| u.starts_with(&p.home)), "{units:?}");
    let fleet_unit = units
        .iter()
        .find(|u| u.ends_with("agent-runner-fleet.service"))
        .cloned()
        .unwrap_or_else(|| panic!("no fleet unit in {units:?}"));

    // plain uninstall: the project's units only (the fleet unit stays)
    let o = p.run(&["uninstall"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(fleet_unit.exists());
    // --fleet: gone, and no user bus is no failure
    let o = p.run(&["uninstall", "--fleet", "hosts.toml"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!fleet_unit.exists(), "fleet unit left behind");
    assert!(units.iter().all(|u| !u.exists()), "{units:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("agent-runner-fleet.service"));
}

#[test]
fn uninstall_fleet_leaves_a_unit_that_watches_another_hosts_file() {
    let p = Project::new();
    let one = p.dir.join("one.toml");
    let two = p.dir.join("two.toml");
    for f in [&one, &two] {
        std::fs::write(f, "[defaults]\n").unwrap_or_else(|e| panic!("{e}"));
    }
    // no project config: --fleet alone, as install allows
    let units = install_dry_run(&p, &["--fleet", "one.toml"]);
    assert_eq!(units.len(), 1, "{units:?}");
    let o = p.run(&["uninstall", "--fleet", "two.toml"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("another hosts file"));
    assert!(units[0].exists());
    let o = p.run(&["uninstall", "--fleet", "one.toml"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!units[0].exists());
}
