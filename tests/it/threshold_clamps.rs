//! Thresholds a config sets beyond any sane range are clamped at load with a
//! one-line warning naming the file and the key (issue 14, point 1): the
//! local monitor then runs its detectors instead of overflowing on them.

use crate::support::logdir::Fixture;
use serde_json::json;

#[test]
fn a_local_config_with_absurd_thresholds_is_clamped_with_warnings_and_the_monitor_runs() {
    let f = Fixture::new();
    let cfg = f.write_config(
        "supervisor_stale_threshold_s = 100000000000000000\n\n\
         [monitor.host_health.memory]\nswap_out_noise_floor_mb = 100000000000000000\n\n\
         [monitor.host_health.disk]\ngrowth_window_s = 100000000000000000\n",
    );
    // Two samples swapping out a lot: the swap-out tier of the memory ladder
    // multiplies the noise floor into bytes.
    f.metric(
        20,
        json!({"swap_sout": 0, "mem_free_mb": 4000, "mem_available_mb": 8000}),
    );
    f.metric(
        10,
        json!({"swap_sout": 9_000_000_000u64, "mem_free_mb": 4000, "mem_available_mb": 8000}),
    );
    f.event(30, "round_start", json!({"round_num": 1, "phase": null}));
    let o = f.cli(&["monitor", "--once", "--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "exit {:?}:\n{err}",
        o.status.code()
    );
    let file = cfg.display().to_string();
    for (key, max) in [
        ("monitor.supervisor_stale_threshold_s", "2592000"),
        (
            "monitor.host_health.memory.swap_out_noise_floor_mb",
            "1048576",
        ),
        ("monitor.host_health.disk.growth_window_s", "604800"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("no warning naming '{key}':\n{err}"));
        assert!(
            line.contains(&file) && line.contains(&format!("using {max}")),
            "{line}"
        );
    }
    // The swap-out rate is far below the clamped floor: no mem_pressure.
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("mem_pressure"), "{out}");
}

/// docs/configuration.md's table of clamped thresholds matches the code.
#[test]
fn the_clamp_table_in_the_docs_matches_the_code() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .unwrap();
    let rows: Vec<&str> = doc
        .lines()
        .skip_while(|l| !l.starts_with("### Clamped thresholds"))
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with("| `"))
        .collect();
    assert_eq!(
        rows.len(),
        agent_runner::config::load::CLAMPS.len(),
        "{rows:#?}"
    );
    for c in agent_runner::config::load::CLAMPS {
        let want = format!("| `{}` | {} ..= {}", c.key, c.min, c.max);
        assert!(
            rows.iter().any(|r| r.starts_with(&want)),
            "no row starting '{want}' in docs/configuration.md:\n{rows:#?}"
        );
    }
}
