//! Timestamps in the formats the Python tool writes: ISO-8601 UTC with
//! milliseconds and `Z`, `YYYY-MM` month shards, `YYYYmmddTHHMMSS` round logs;
//! and checked arithmetic on them.
//!
//! A time read from a log, a config or a remote host is only taken within
//! years 1 to 9999 (Python's `datetime` range, which the Python tool writes):
//! anything outside is bad input. Moving a time is checked ([`add_s`],
//! [`add_ms`]): chrono panics on an overflowing `+`, so no caller uses it.

use chrono::{DateTime, Datelike, SecondsFormat, TimeDelta, Utc};

/// The years a parsed time may carry.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// `2026-11-23T22:46:58.698Z`
pub fn iso_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time as [`iso_ms`].
pub fn now_iso_ms() -> String {
    iso_ms(Utc::now())
}

/// `2026-11` (UTC month) for the `events-YYYY-MM.jsonl` shard of `t`.
pub fn month(t: DateTime<Utc>) -> String {
    t.format("%Y-%m").to_string()
}

/// `20261123T224658` (UTC) for `rounds/R<N>-<stamp>.log`.
pub fn compact(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%S").to_string()
}

/// Parse an event `ts` (or any RFC 3339 time; a time without zone is UTC).
/// A time outside [`YEARS`] is bad input: None.
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    parse_any(s).filter(|t| in_range(*t))
}

/// `t` is within [`YEARS`].
pub fn in_range(t: DateTime<Utc>) -> bool {
    YEARS.contains(&t.year())
}

/// The time `secs` seconds after the Unix epoch, if within [`YEARS`].
pub fn from_epoch_s(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(secs, 0).filter(|t| in_range(*t))
}

/// `t` moved by `secs` seconds (back when negative); None past chrono's range.
pub fn add_s(t: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
    t.checked_add_signed(TimeDelta::try_seconds(secs)?)
}

/// `t` moved by `ms` milliseconds (back when negative); None past chrono's range.
pub fn add_ms(t: DateTime<Utc>, ms: i64) -> Option<DateTime<Utc>> {
    t.checked_add_signed(TimeDelta::try_milliseconds(ms)?)
}

fn parse_any(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let s = s.trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(n.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_match_upstream() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 23, 22, 46, 58)
            .single()
            .map(|t| t + chrono::Duration::milliseconds(698));
        let t = t.unwrap_or_default();
        assert_eq!(iso_ms(t), "2026-11-23T22:46:58.698Z");
        assert_eq!(month(t), "2026-11");
        assert_eq!(compact(t), "20261123T224658");
        assert_eq!(parse_ts("2026-11-23T22:46:58.698Z"), Some(t));
        assert_eq!(parse_ts("2026-11-23T22:46:58.698"), Some(t));
    }

    #[test]
    fn moving_a_time_past_the_end_of_time_is_none_not_a_panic() {
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(add_s(max, 1), None);
        assert_eq!(add_s(DateTime::<Utc>::MIN_UTC, -1), None);
        assert_eq!(add_s(max, i64::MAX), None);
        assert_eq!(add_ms(max, i64::MIN), None);
        assert!(add_s(max, -86_400).is_some());
        assert_eq!(from_epoch_s(i64::MAX), None);
        assert_eq!(from_epoch_s(-62_135_596_801), None, "year 0");
        assert!(from_epoch_s(0).is_some());
    }

    #[test]
    fn times_outside_years_1_to_9999_are_bad_input() {
        for bad in [
            "+262143-12-31T23:59:59Z",
            "+262143-12-31T23:59:59",
            "+10000-01-01T00:00:00",
            "-0001-01-01T00:00:00",
            "0000-12-31T23:59:59Z",
            "+262143-12-31",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad}");
        }
        for good in [
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
            "1970-01-01",
        ] {
            assert!(parse_ts(good).is_some(), "{good}");
        }
    }
}
