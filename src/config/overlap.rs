//! Phase-window overlaps (0.3 delta §3.11): two phases that each run their
//! own agent, each with run windows in the same timezone, whose windows
//! intersect once each phase's pause windows are taken out. Serve refuses to
//! boot on one (78, pointing at `doctor`), and the startup battery reports it
//! (`phase_window_overlap`). Pure: every minute of the week is tried.

use super::schedule::{parse_window, Window};
use super::{Config, ScheduleConfig};

/// One overlapping pair: the phases and the run window of each that meet
/// (`doctor --json` names them `phase_a`, `window_a`, `phase_b`, `window_b`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Overlap {
    #[serde(rename = "phase_a")]
    pub a: String,
    #[serde(rename = "window_a")]
    pub a_window: String,
    #[serde(rename = "phase_b")]
    pub b: String,
    #[serde(rename = "window_b")]
    pub b_window: String,
}

impl Overlap {
    /// `day (Mon-Fri 08:00-18:00) vs night (17:00-09:00)`, upstream's wording.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}) vs {} ({})",
            self.a, self.a_window, self.b, self.b_window
        )
    }
}

/// Every overlapping pair of agent-overriding phases, in `phases.list` order.
pub fn phase_window_overlaps(cfg: &Config) -> Vec<Overlap> {
    let phases: Vec<(&str, &ScheduleConfig)> = cfg
        .phases
        .list
        .iter()
        .filter(|p| {
            cfg.phases
                .overrides
                .get(p.as_str())
                .is_some_and(|o| o.agent.is_some())
        })
        .map(|p| (p.as_str(), effective(cfg, p)))
        .filter(|(_, s)| !s.run_windows.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, (a, sa)) in phases.iter().enumerate() {
        for (b, sb) in &phases[i + 1..] {
            if zone(cfg, sa) != zone(cfg, sb) {
                continue;
            }
            if let Some((wa, wb)) = first_meeting(sa, sb) {
                out.push(Overlap {
                    a: a.to_string(),
                    a_window: wa,
                    b: b.to_string(),
                    b_window: wb,
                });
            }
        }
    }
    out
}

/// The phase's schedule: its own (inheriting the global zone) or the global.
fn effective<'a>(cfg: &'a Config, phase: &str) -> &'a ScheduleConfig {
    cfg.schedule_for(Some(phase))
}

fn zone<'a>(cfg: &'a Config, s: &'a ScheduleConfig) -> Option<&'a str> {
    s.timezone.as_deref().or(cfg.schedule.timezone.as_deref())
}

fn parsed(list: &[String]) -> Vec<(String, Window)> {
    list.iter()
        .filter_map(|w| parse_window(w).ok().map(|p| (w.clone(), p)))
        .collect()
}

/// The first pair of run windows (one of each) that share a runnable minute.
fn first_meeting(a: &ScheduleConfig, b: &ScheduleConfig) -> Option<(String, String)> {
    let (ra, rb) = (parsed(&a.run_windows), parsed(&b.run_windows));
    let (pa, pb) = (parsed(&a.pause_windows), parsed(&b.pause_windows));
    let paused = |p: &[(String, Window)], d: u8, m: u16| p.iter().any(|(_, w)| w.contains(d, m));
    for (sa, wa) in &ra {
        for (sb, wb) in &rb {
            let meet = (0..7u8).any(|d| {
                (0..1440u16).any(|m| {
                    wa.contains(d, m)
                        && wb.contains(d, m)
                        && !paused(&pa, d, m)
                        && !paused(&pb, d, m)
                })
            });
            if meet {
                return Some((sa.clone(), sb.clone()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(phases: &str) -> Config {
        let text = format!(
            "schema_version = 1\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n[runtime]\nwork_dir = \"/nonexistent/p\"\nlog_dir = \"/nonexistent/p/logs\"\n[prompt]\nfile = \"prompts/main.md\"\n{phases}\n"
        );
        super::super::from_str(
            std::path::Path::new("/nonexistent/p/agent-runner.toml"),
            &text,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const DAY_NIGHT: &str = "[phases]\nlist = [\"day\", \"night\"]\n[phases.day.agent]\ncommand = [\"a\"]\n[phases.day.schedule]\nrun_windows = [\"Mon-Fri 08:00-18:00\"]\n[phases.night.agent]\ncommand = [\"b\"]\n[phases.night.schedule]\nrun_windows = [\"17:00-09:00\"]\n";

    #[test]
    fn intersecting_windows_of_two_agent_phases_overlap() {
        let o = phase_window_overlaps(&cfg(DAY_NIGHT));
        assert_eq!(o.len(), 1);
        assert_eq!(
            o[0].describe(),
            "day (Mon-Fri 08:00-18:00) vs night (17:00-09:00)"
        );
    }

    #[test]
    fn a_pause_window_that_carves_out_the_overlap_clears_it() {
        let text = DAY_NIGHT.replace(
            "run_windows = [\"17:00-09:00\"]",
            "run_windows = [\"17:00-09:00\"]\npause_windows = [\"17:00-18:00\", \"08:00-09:00\"]",
        );
        assert!(phase_window_overlaps(&cfg(&text)).is_empty());
    }

    #[test]
    fn disjoint_windows_other_zones_and_phases_without_an_agent_do_not_overlap() {
        let disjoint = DAY_NIGHT.replace("17:00-09:00", "18:00-08:00");
        assert!(phase_window_overlaps(&cfg(&disjoint)).is_empty());
        let zones = DAY_NIGHT.replace(
            "run_windows = [\"17:00-09:00\"]",
            "run_windows = [\"17:00-09:00\"]\ntimezone = \"UTC\"",
        );
        assert!(phase_window_overlaps(&cfg(&zones)).is_empty());
        let no_agent = DAY_NIGHT.replace("[phases.night.agent]\ncommand = [\"b\"]\n", "");
        assert!(phase_window_overlaps(&cfg(&no_agent)).is_empty());
    }

    #[test]
    fn a_wrapped_windows_tail_belongs_to_its_start_day() {
        // Fri 22:00-02:00 runs into Saturday, which Sat 01:00-03:00 shares
        let text = DAY_NIGHT
            .replace("Mon-Fri 08:00-18:00", "Fri 22:00-02:00")
            .replace("\"17:00-09:00\"", "\"Sat 01:00-03:00\"");
        assert_eq!(phase_window_overlaps(&cfg(&text)).len(), 1);
        let text = text.replace("Sat 01:00-03:00", "Sat 02:00-03:00");
        assert!(phase_window_overlaps(&cfg(&text)).is_empty());
    }
}
