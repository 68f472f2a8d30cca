//! The `[schedule]` gate of the serve loop (0.3 delta §3.10/§3.11): whether
//! an instant is runnable in a schedule's timezone, when it next becomes
//! runnable, and which phase a phase-aware serve launches. Pure functions of
//! (config, epoch seconds); the loop in `serve.rs` owns the sleeping and the
//! events. Window syntax lives in `config::schedule`; this module must not
//! re-parse anything the loader has not validated.

use crate::config::schedule::{parse_window, Window};
use crate::config::{Config, PhasePolicy, ScheduleConfig};
use chrono::{Datelike, FixedOffset, Offset, TimeZone, Timelike};

/// How far ahead `resume_at` is searched (weekday-scoped run windows can
/// pause a whole weekend).
const HORIZON_MIN: i64 = 8 * 24 * 60;

/// A schedule ready to evaluate: parsed windows and a resolved zone.
#[derive(Debug)]
pub struct Gate {
    run: Vec<(Window, String)>,
    pause: Vec<(Window, String)>,
    zone: Zone,
}

#[derive(Debug)]
enum Zone {
    /// Host local time (`/etc/localtime` or `TZ`).
    Local,
    Iana {
        name: String,
        tz: tz::TimeZone,
    },
}

/// Why a gate pauses now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// The pause window's text, or `outside run_windows`.
    pub active_window: String,
    /// ISO-8601 with offset of the first runnable minute within 8 days, or "".
    pub resume_at: String,
    /// The IANA name, or `local`.
    pub timezone: String,
    /// `resume_at` as Unix seconds (not part of the event).
    pub resume_epoch: Option<i64>,
}

/// The tz database directory: `$TZDIR`, else `/usr/share/zoneinfo` (the same
/// place `config::schedule::check_timezone` validated the name against).
fn zoneinfo_dir() -> std::path::PathBuf {
    std::env::var_os("TZDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/usr/share/zoneinfo"))
}

fn parse_all(list: &[String], key: &str) -> Result<Vec<(Window, String)>, String> {
    list.iter()
        .map(|s| {
            parse_window(s)
                .map(|w| (w, s.clone()))
                .map_err(|e| format!("schedule.{key}: {e}"))
        })
        .collect()
}

impl Gate {
    /// Compile a schedule; `Ok(None)` when it has no windows (always runnable).
    /// An unreadable or unknown zone is an error: a configured quiet time must
    /// never be silently ignored.
    pub fn new(s: &ScheduleConfig) -> Result<Option<Gate>, String> {
        if s.run_windows.is_empty() && s.pause_windows.is_empty() {
            return Ok(None);
        }
        let run = parse_all(&s.run_windows, "run_windows")?;
        let pause = parse_all(&s.pause_windows, "pause_windows")?;
        let zone = match s.timezone.as_deref() {
            None => Zone::Local,
            Some(name) => {
                crate::config::schedule::check_timezone(name)
                    .map_err(|e| format!("schedule.timezone: {e}"))?;
                let path = zoneinfo_dir().join(name);
                let bytes = std::fs::read(&path).map_err(|e| {
                    format!(
                        "schedule.timezone: cannot read '{}': {e} — install the tz database (tzdata) or set TZDIR",
                        path.display()
                    )
                })?;
                let tz = tz::TimeZone::from_tz_data(&bytes).map_err(|e| {
                    format!(
                        "schedule.timezone: '{}' is not a valid TZif file: {e}",
                        path.display()
                    )
                })?;
                Zone::Iana {
                    name: name.to_string(),
                    tz,
                }
            }
        };
        Ok(Some(Gate { run, pause, zone }))
    }

    /// The zone's UTC offset at `epoch`.
    fn offset(&self, epoch: i64) -> FixedOffset {
        let secs = match &self.zone {
            Zone::Local => chrono::Local
                .timestamp_opt(epoch, 0)
                .single()
                .map(|t| t.offset().local_minus_utc())
                .unwrap_or(0),
            Zone::Iana { tz, .. } => tz
                .find_local_time_type(epoch)
                .map(|t| t.ut_offset())
                .unwrap_or(0),
        };
        FixedOffset::east_opt(secs).unwrap_or(chrono::Utc.fix())
    }

    fn local(&self, epoch: i64) -> chrono::DateTime<FixedOffset> {
        chrono::DateTime::from_timestamp(epoch, 0)
            .unwrap_or_default()
            .with_timezone(&self.offset(epoch))
    }

    fn weekday_minute(&self, epoch: i64) -> (u8, u16) {
        let t = self.local(epoch);
        (
            t.weekday().num_days_from_monday() as u8,
            (t.hour() * 60 + t.minute()) as u16,
        )
    }

    /// Runnable: inside some run window (none = always) and in no pause window.
    pub fn should_run(&self, epoch: i64) -> bool {
        let (d, m) = self.weekday_minute(epoch);
        let in_run = self.run.is_empty() || self.run.iter().any(|(w, _)| w.contains(d, m));
        in_run && !self.pause.iter().any(|(w, _)| w.contains(d, m))
    }

    /// The zone's name for events: the IANA name or `local`.
    pub fn timezone(&self) -> &str {
        match &self.zone {
            Zone::Local => "local",
            Zone::Iana { name, .. } => name,
        }
    }

    /// First minute boundary after `epoch`, within 8 days, that is runnable.
    pub fn resume_at(&self, epoch: i64) -> Option<i64> {
        let base = epoch - epoch.rem_euclid(60);
        (1..=HORIZON_MIN)
            .map(|k| base + 60 * k)
            .find(|&t| self.should_run(t))
    }

    /// `None` when runnable at `epoch`, else why and until when it pauses.
    pub fn evaluate(&self, epoch: i64) -> Option<Pause> {
        if self.should_run(epoch) {
            return None;
        }
        let (d, m) = self.weekday_minute(epoch);
        let active_window = self
            .pause
            .iter()
            .find(|(w, _)| w.contains(d, m))
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| "outside run_windows".to_string());
        let resume_epoch = self.resume_at(epoch);
        let resume_at = resume_epoch
            .map(|t| self.local(t).format("%Y-%m-%dT%H:%M:%S%:z").to_string())
            .unwrap_or_default();
        Some(Pause {
            active_window,
            resume_at,
            timezone: self.timezone().to_string(),
            resume_epoch,
        })
    }
}

/// Whether serve itself picks the phase (and passes `--phase`): `[phases]`
/// is set and either `phase_policy = "skip"` or some phase has its own
/// schedule. Otherwise the round child rotates by itself.
pub fn phase_aware(cfg: &Config) -> bool {
    !cfg.phases.list.is_empty()
        && (cfg.phases.phase_policy == PhasePolicy::Skip
            || cfg.phases.overrides.values().any(|o| o.schedule.is_some()))
}

/// What the gate decided for one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Run now; `phase` is passed as `--phase` when set.
    Run {
        phase: Option<String>,
        /// Phases stepped over (`skip` policy), with the rotation phase's
        /// closed window.
        skipped: Vec<String>,
        active_window: String,
    },
    /// Nothing runnable: pause. `phase` is the candidate that opens first.
    Pause { pause: Pause, phase: Option<String> },
}

/// The compiled gate of one phase (or of `[schedule]` for `None`).
pub fn gate_for(cfg: &Config, phase: Option<&str>) -> Result<Option<Gate>, String> {
    Gate::new(cfg.schedule_for(phase))
}

/// Compile `[schedule]` and every phase's schedule once at startup, so a
/// schedule that cannot be evaluated stops serve before the first round.
pub fn validate(cfg: &Config) -> Result<(), String> {
    gate_for(cfg, None)?;
    for p in &cfg.phases.list {
        gate_for(cfg, Some(p)).map_err(|e| format!("phase '{p}': {e}"))?;
    }
    Ok(())
}

/// Decide round `round_num` at `epoch`. `throttled` tells whether a phase's
/// agent is throttled now (only the `skip` policy routes around throttles).
/// Not phase-aware: only `[schedule]` applies and the child rotates.
pub fn select(
    cfg: &Config,
    round_num: u64,
    epoch: i64,
    throttled: &dyn Fn(&str) -> bool,
) -> Result<Selection, String> {
    if !phase_aware(cfg) {
        return Ok(match gate_for(cfg, None)?.and_then(|g| g.evaluate(epoch)) {
            None => Selection::Run {
                phase: None,
                skipped: Vec::new(),
                active_window: String::new(),
            },
            Some(pause) => Selection::Pause { pause, phase: None },
        });
    }
    let n = cfg.phases.list.len();
    let start = ((round_num.max(1) - 1) % n as u64) as usize;
    let candidates: Vec<&str> = match cfg.phases.phase_policy {
        PhasePolicy::Wait => vec![cfg.phases.list[start].as_str()],
        PhasePolicy::Skip => (0..n)
            .map(|k| cfg.phases.list[(start + k) % n].as_str())
            .collect(),
    };
    let skip = cfg.phases.phase_policy == PhasePolicy::Skip;
    let mut skipped: Vec<String> = Vec::new();
    let mut first_window = String::new();
    // earliest-opening closed candidate: (resume epoch or MAX, phase, pause)
    let mut earliest: Option<(i64, String, Pause)> = None;
    for p in candidates {
        if skip && throttled(p) {
            skipped.push(p.to_string());
            continue;
        }
        let gate = gate_for(cfg, Some(p))?;
        match gate.as_ref().and_then(|g| g.evaluate(epoch)) {
            None => {
                return Ok(Selection::Run {
                    phase: Some(p.to_string()),
                    skipped,
                    active_window: first_window,
                })
            }
            Some(pause) => {
                if first_window.is_empty() {
                    first_window = pause.active_window.clone();
                }
                let at = gate
                    .as_ref()
                    .and_then(|g| g.resume_at(epoch))
                    .unwrap_or(i64::MAX);
                let earlier = match &earliest {
                    None => true,
                    Some((e, _, _)) => at < *e,
                };
                if earlier {
                    earliest = Some((at, p.to_string(), pause));
                }
                skipped.push(p.to_string());
            }
        }
    }
    Ok(match earliest {
        Some((_, phase, pause)) => Selection::Pause {
            pause,
            phase: Some(phase),
        },
        // every candidate throttled: the caller's throttle handling decides
        None => Selection::Pause {
            pause: Pause {
                active_window: String::new(),
                resume_at: String::new(),
                timezone: "local".into(),
                resume_epoch: None,
            },
            phase: None,
        },
    })
}

/// Upstream's boot refusal when agent phases' run windows overlap.
pub fn overlap_refusal(cfg: &Config) -> Option<String> {
    let found = crate::config::overlap::phase_window_overlaps(cfg);
    (!found.is_empty()).then(|| {
        let pairs: Vec<String> = found.iter().map(|o| o.describe()).collect();
        format!(
            "config error: phase-window overlap: {}; run `agent-runner doctor` for details",
            pairs.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(tz: Option<&str>, run: &[&str], pause: &[&str]) -> ScheduleConfig {
        ScheduleConfig {
            timezone: tz.map(String::from),
            run_windows: run.iter().map(|s| s.to_string()).collect(),
            pause_windows: pause.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn epoch(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn no_windows_is_no_gate() {
        assert!(Gate::new(&sched(Some("UTC"), &[], &[])).unwrap().is_none());
    }

    #[test]
    fn pause_window_in_utc_and_its_resume_minute() {
        let g = Gate::new(&sched(Some("UTC"), &[], &["09:00-17:00"]))
            .unwrap()
            .unwrap();
        // 2026-11-25 is a Wednesday
        assert!(g.should_run(epoch("2026-11-25T08:59:59Z")));
        assert!(!g.should_run(epoch("2026-11-25T09:00:00Z")));
        let p = g.evaluate(epoch("2026-11-25T12:34:56Z")).unwrap();
        assert_eq!(p.active_window, "09:00-17:00");
        assert_eq!(p.resume_at, "2026-11-25T17:00:00+00:00");
        assert_eq!(p.timezone, "UTC");
        assert!(g.should_run(epoch("2026-11-25T17:00:00Z")));
    }

    #[test]
    fn run_windows_in_a_dst_zone_use_the_local_offset() {
        let g = Gate::new(&sched(Some("Europe/Berlin"), &["Mon-Fri 22:00-06:00"], &[]))
            .unwrap()
            .unwrap();
        // Wed 2026-11-25 20:30 UTC = 21:30 CET (+01:00): outside, opens at 22:00 local
        let p = g.evaluate(epoch("2026-11-25T20:30:00Z")).unwrap();
        assert_eq!(p.active_window, "outside run_windows");
        assert_eq!(p.resume_at, "2026-11-25T22:00:00+01:00");
        // summer: 2026-07-01 (Wed) 20:30 UTC = 22:30 CEST -> inside
        assert!(g.should_run(epoch("2026-07-01T20:30:00Z")));
        // Sat 2026-11-28 12:00 CET: the weekend has no window; Fri's tail ended
        // at 06:00 Sat, so the next opening is Mon 22:00
        let p = g.evaluate(epoch("2026-11-28T11:00:00Z")).unwrap();
        assert_eq!(p.resume_at, "2026-11-30T22:00:00+01:00");
    }

    #[test]
    fn a_schedule_that_never_opens_has_an_empty_resume_at() {
        let g = Gate::new(&sched(Some("UTC"), &[], &["00:00-24:00"]))
            .unwrap()
            .unwrap();
        let p = g.evaluate(epoch("2026-11-25T12:00:00Z")).unwrap();
        assert_eq!(p.resume_at, "");
        assert_eq!(p.active_window, "00:00-24:00");
    }

    #[test]
    fn unknown_zone_is_an_error_not_a_silent_bypass() {
        let e = Gate::new(&sched(Some("Mars/Olympus"), &[], &["09:00-10:00"])).unwrap_err();
        assert!(e.contains("Mars/Olympus"), "{e}");
    }

    fn phased(policy: PhasePolicy, day_pause: &[&str], night_pause: &[&str]) -> Config {
        let dir = std::path::Path::new("/nonexistent/p");
        let mut cfg = crate::config::default_config(dir, &dir.join("logs")).unwrap();
        cfg.phases.list = vec!["day".into(), "night".into()];
        cfg.phases.phase_policy = policy;
        for (name, pause) in [("day", day_pause), ("night", night_pause)] {
            cfg.phases.overrides.insert(
                name.into(),
                crate::config::PhaseOverride {
                    schedule: Some(sched(Some("UTC"), &[], pause)),
                    ..Default::default()
                },
            );
        }
        cfg
    }

    #[test]
    fn phase_selection_wait_and_skip() {
        let noon = epoch("2026-11-25T12:00:00Z");
        let none = |_: &str| false;
        // wait: round 1 is "day", closed -> pause for "day" even though night is open
        let cfg = phased(PhasePolicy::Wait, &["11:00-13:00"], &[]);
        match select(&cfg, 1, noon, &none).unwrap() {
            Selection::Pause { pause, phase } => {
                assert_eq!(phase.as_deref(), Some("day"));
                assert_eq!(pause.resume_at, "2026-11-25T13:00:00+00:00");
            }
            other => panic!("{other:?}"),
        }
        // round 2 is "night", open
        assert!(matches!(
            select(&cfg, 2, noon, &none).unwrap(),
            Selection::Run { phase: Some(p), .. } if p == "night"
        ));
        // skip: day closed -> night runs, day recorded as skipped
        let cfg = phased(PhasePolicy::Skip, &["11:00-13:00"], &[]);
        assert_eq!(
            select(&cfg, 1, noon, &none).unwrap(),
            Selection::Run {
                phase: Some("night".into()),
                skipped: vec!["day".into()],
                active_window: "11:00-13:00".into()
            }
        );
        // skip, both closed: pause for the one that opens first
        let cfg = phased(PhasePolicy::Skip, &["11:00-14:00"], &["11:00-12:30"]);
        match select(&cfg, 1, noon, &none).unwrap() {
            Selection::Pause { pause, phase } => {
                assert_eq!(phase.as_deref(), Some("night"));
                assert_eq!(pause.resume_at, "2026-11-25T12:30:00+00:00");
                assert_eq!(pause.active_window, "11:00-12:30");
            }
            other => panic!("{other:?}"),
        }
        // skip routes around a throttled phase's agent
        let cfg = phased(PhasePolicy::Skip, &[], &[]);
        let day_throttled = |p: &str| p == "day";
        assert!(matches!(
            select(&cfg, 1, noon, &day_throttled).unwrap(),
            Selection::Run { phase: Some(p), skipped, .. } if p == "night" && skipped == ["day"]
        ));
    }

    #[test]
    fn local_zone_is_named_local() {
        let g = Gate::new(&sched(None, &["00:00-24:00"], &[]))
            .unwrap()
            .unwrap();
        assert_eq!(g.timezone(), "local");
        assert!(g.should_run(epoch("2026-11-25T12:00:00Z")));
    }
}
