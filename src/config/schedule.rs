//! `[schedule]` syntax: time windows `[WEEKDAYS ]HH:MM-HH:MM` and IANA
//! timezone names. Pure parsing and validation only; deciding whether "now"
//! is runnable belongs to `serve`, which calls [`parse_window`] again on the
//! validated strings.

use std::path::{Path, PathBuf};

/// One parsed window. Minutes count from local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start minute, `0..1440`.
    pub start_min: u16,
    /// End minute (exclusive), `1..=1440`. `end <= start` wraps past midnight.
    pub end_min: u16,
    /// Bit `d` set = weekday `d` (0 = Monday) is included; 0 = every day.
    pub days: u8,
}

impl Window {
    /// Whether local `(weekday, minute)` falls inside the window. The wrapped
    /// tail after midnight belongs to the start day.
    pub fn contains(&self, weekday: u8, minute: u16) -> bool {
        let wraps = self.start_min >= self.end_min;
        let in_time = if wraps {
            minute >= self.start_min || minute < self.end_min
        } else {
            self.start_min <= minute && minute < self.end_min
        };
        if !in_time {
            return false;
        }
        if self.days == 0 {
            return true;
        }
        let start_day = if wraps && minute < self.end_min {
            (weekday + 6) % 7
        } else {
            weekday
        };
        self.days & (1 << start_day) != 0
    }
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday(token: &str) -> Option<u8> {
    WEEKDAYS.iter().position(|d| *d == token).map(|i| i as u8)
}

fn parse_days(spec: &str) -> Result<u8, String> {
    let mut days = 0u8;
    for token in spec.split(',') {
        let token = token.trim().to_ascii_lowercase();
        if token.is_empty() {
            return Err(format!("empty weekday token in '{spec}'"));
        }
        if let Some((a, b)) = token.split_once('-') {
            let (Some(a), Some(b)) = (weekday(a), weekday(b)) else {
                return Err(format!("invalid weekday range '{token}'"));
            };
            if a > b {
                return Err(format!(
                    "weekday range must go upward Mon..Sun, got '{token}'"
                ));
            }
            for d in a..=b {
                days |= 1 << d;
            }
        } else {
            let Some(d) = weekday(&token) else {
                return Err(format!("invalid weekday '{token}' (use Mon..Sun)"));
            };
            days |= 1 << d;
        }
    }
    Ok(days)
}

fn parse_hhmm(s: &str, is_end: bool, label: &str) -> Result<u16, String> {
    let bad = || format!("invalid window '{label}': expected [WEEKDAYS ]HH:MM-HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if h == 24 {
        if !is_end || m != 0 {
            return Err(format!(
                "invalid window '{label}': 24:00 is only valid as an end"
            ));
        }
        return Ok(24 * 60);
    }
    if h > 23 || m > 59 {
        return Err(format!("invalid window '{label}': time '{s}' out of range"));
    }
    Ok(h * 60 + m)
}

/// Parse `[WEEKDAYS ]HH:MM-HH:MM`. The error is a phrase without the key.
pub fn parse_window(s: &str) -> Result<Window, String> {
    let spec = s.trim();
    let (days, time) = match spec.split_once(char::is_whitespace) {
        Some((d, t)) => (parse_days(d)?, t.trim()),
        None => (0, spec),
    };
    let (a, b) = time
        .split_once('-')
        .ok_or_else(|| format!("invalid window '{s}': expected [WEEKDAYS ]HH:MM-HH:MM"))?;
    let start_min = parse_hhmm(a, false, s)?;
    let end_min = parse_hhmm(b, true, s)?;
    if start_min == end_min {
        return Err(format!(
            "invalid window '{s}': start equals end (zero length)"
        ));
    }
    Ok(Window {
        start_min,
        end_min,
        days,
    })
}

/// The tz database directory: `$TZDIR`, else `/usr/share/zoneinfo`.
fn zoneinfo_dir() -> PathBuf {
    std::env::var_os("TZDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"))
}

/// Check an IANA zone name. Always syntactic (`Area/City`-style tokens, no
/// `..`); when the host has a tz database, the zone must also exist in it.
pub fn check_timezone(tz: &str) -> Result<(), String> {
    check_timezone_in(tz, &zoneinfo_dir())
}

fn check_timezone_in(tz: &str, dir: &Path) -> Result<(), String> {
    let syntactic = !tz.is_empty()
        && !tz.starts_with('/')
        && tz.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        });
    if !syntactic {
        return Err(format!(
            "'{tz}' is not an IANA zone name (e.g. 'Europe/Berlin')"
        ));
    }
    if dir.is_dir() && !dir.join(tz).is_file() {
        return Err(format!(
            "unknown IANA zone '{tz}' (not in {})",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse() {
        let w = parse_window("22:00-02:00").unwrap();
        assert_eq!((w.start_min, w.end_min, w.days), (1320, 120, 0));
        let w = parse_window("Mon-Fri 09:00-17:30").unwrap();
        assert_eq!(w.days, 0b0011111);
        assert_eq!(w.end_min, 17 * 60 + 30);
        let w = parse_window("sat,Sun 00:00-24:00").unwrap();
        assert_eq!(w.days, 0b1100000);
        assert_eq!(w.end_min, 1440);
        let w = parse_window("Mon,Wed-Thu 08:00-09:00").unwrap();
        assert_eq!(w.days, 0b0001101);
    }

    #[test]
    fn windows_reject() {
        for bad in [
            "9:00-10:00",
            "09:00-09:00",
            "24:00-01:00",
            "10:00-24:30",
            "25:00-26:00",
            "Fri-Mon 10:00-11:00",
            "Funday 10:00-11:00",
            "10:00",
            "",
            "Mon, 10:00-11:00",
        ] {
            assert!(parse_window(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn wrapped_tail_belongs_to_start_day() {
        let w = parse_window("Fri 22:00-02:00").unwrap();
        assert!(w.contains(4, 23 * 60)); // Fri 23:00
        assert!(w.contains(5, 60)); // Sat 01:00
        assert!(!w.contains(5, 23 * 60)); // Sat 23:00
        assert!(!w.contains(4, 60)); // Fri 01:00 belongs to Thursday's window
    }

    #[test]
    fn timezones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("Europe")).unwrap();
        std::fs::write(dir.path().join("Europe/Berlin"), b"TZif").unwrap();
        assert!(check_timezone_in("Europe/Berlin", dir.path()).is_ok());
        assert!(check_timezone_in("Mars/Olympus", dir.path()).is_err());
        let missing = dir.path().join("none");
        assert!(check_timezone_in("Mars/Olympus", &missing).is_ok());
        for bad in ["", "../etc/passwd", "/etc/passwd", "Europe//Berlin", "a b"] {
            assert!(check_timezone_in(bad, &missing).is_err(), "{bad}");
        }
    }
}
