//! Phase windows that overlap (0.3 delta §3.11, §3.16): two phases that
//! each run their own agent and their own `run_windows`, in the same
//! timezone, whose windows share a minute of the week that neither phase's
//! `pause_windows` carves out. Then which agent runs depends on rotation
//! luck. Pure: windows are compared minute by minute over one week with the
//! scheduler's own [`Window::contains`], so a wrapped window's tail counts
//! on its start day exactly as it does when rounds are gated.

use super::schedule::{parse_window, Window};
use super::Config;

/// One overlapping pair: the phases and the first colliding windows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Overlap {
    pub phase_a: String,
    pub phase_b: String,
    pub window_a: String,
    pub window_b: String,
}

/// Windows with their text.
type Windows<'a> = Vec<(Window, &'a str)>;

/// A phase that may overlap: its name, run and pause windows, timezone.
struct Candidate<'a> {
    phase: &'a str,
    run: Windows<'a>,
    pause: Windows<'a>,
    tz: Option<&'a str>,
}

fn parsed(list: &[String]) -> Windows<'_> {
    list.iter()
        .filter_map(|s| parse_window(s).ok().map(|w| (w, s.as_str())))
        .collect()
}

fn open_at(w: &Window, pause: &Windows<'_>, d: u8, m: u16) -> bool {
    w.contains(d, m) && !pause.iter().any(|(p, _)| p.contains(d, m))
}

/// Every overlapping pair of phases, in `phases.list` order.
pub fn phase_overlaps(cfg: &Config) -> Vec<Overlap> {
    let candidates: Vec<Candidate<'_>> = cfg
        .phases
        .list
        .iter()
        .filter_map(|p| {
            let ov = cfg.phases.overrides.get(p)?;
            ov.agent.as_ref()?;
            let s = ov.schedule.as_ref().filter(|s| !s.run_windows.is_empty())?;
            Some(Candidate {
                phase: p.as_str(),
                run: parsed(&s.run_windows),
                pause: parsed(&s.pause_windows),
                tz: s.timezone.as_deref(),
            })
        })
        .collect();
    let mut out = Vec::new();
    for (i, a) in candidates.iter().enumerate() {
        for b in candidates[i + 1..].iter().filter(|b| b.tz == a.tz) {
            let hit = a.run.iter().find_map(|(wa, la)| {
                b.run.iter().find_map(|(wb, lb)| {
                    let collide = (0..7u8).any(|d| {
                        (0..1440u16)
                            .any(|m| open_at(wa, &a.pause, d, m) && open_at(wb, &b.pause, d, m))
                    });
                    collide.then(|| (la.to_string(), lb.to_string()))
                })
            });
            if let Some((window_a, window_b)) = hit {
                out.push(Overlap {
                    phase_a: a.phase.to_string(),
                    phase_b: b.phase.to_string(),
                    window_a,
                    window_b,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(phases: &str) -> Config {
        let dir = std::path::Path::new("/nonexistent/proj");
        let text = format!(
            "[agent]\ncommand = [\"a\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n[runtime]\nwork_dir = \".\"\nlog_dir = \"logs\"\n[prompt]\nfile = \"p.md\"\n[schedule]\ntimezone = \"UTC\"\n{phases}"
        );
        crate::config::from_str(&dir.join("agent-runner.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const TWO: &str = "[phases]\nlist = [\"day\", \"night\"]\n[phases.day.agent]\ncommand = [\"d\"]\n[phases.night.agent]\ncommand = [\"n\"]\n";

    #[test]
    fn agent_phases_with_shared_minutes_overlap() {
        let c = cfg(&format!("{TWO}[phases.day.schedule]\nrun_windows = [\"Mon-Fri 09:00-17:00\"]\n[phases.night.schedule]\nrun_windows = [\"16:00-23:00\"]\n"));
        assert_eq!(
            phase_overlaps(&c),
            [Overlap {
                phase_a: "day".into(),
                phase_b: "night".into(),
                window_a: "Mon-Fri 09:00-17:00".into(),
                window_b: "16:00-23:00".into()
            }]
        );
    }

    #[test]
    fn disjoint_carved_out_or_agentless_phases_do_not() {
        let disjoint = format!("{TWO}[phases.day.schedule]\nrun_windows = [\"09:00-17:00\"]\n[phases.night.schedule]\nrun_windows = [\"17:00-09:00\"]\n");
        assert!(phase_overlaps(&cfg(&disjoint)).is_empty());
        let carved = format!("{TWO}[phases.day.schedule]\nrun_windows = [\"09:00-17:00\"]\npause_windows = [\"16:00-17:00\"]\n[phases.night.schedule]\nrun_windows = [\"16:00-23:00\"]\n");
        assert!(phase_overlaps(&cfg(&carved)).is_empty());
        // a wrapped window's tail belongs to its start day: Fri 22-02 runs
        // into Saturday, which Sat 01:00-03:00 shares
        let wrapped = format!("{TWO}[phases.day.schedule]\nrun_windows = [\"Fri 22:00-02:00\"]\n[phases.night.schedule]\nrun_windows = [\"Sat 01:00-03:00\"]\n");
        assert_eq!(phase_overlaps(&cfg(&wrapped)).len(), 1);
        let agentless = "[phases]\nlist = [\"day\", \"night\"]\n[phases.day.schedule]\nrun_windows = [\"09:00-17:00\"]\n[phases.night.schedule]\nrun_windows = [\"09:00-17:00\"]\n";
        assert!(phase_overlaps(&cfg(agentless)).is_empty());
    }
}
