//! Timestamps in the formats the Python tool writes: ISO-8601 UTC with
//! milliseconds and `Z`, `YYYY-MM` month shards, `YYYYmmddTHHMMSS` round logs.

use chrono::{DateTime, SecondsFormat, Utc};

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
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
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
}
