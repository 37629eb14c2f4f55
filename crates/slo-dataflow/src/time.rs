//! Event time: parsing the timestamp spellings found in logs, and tumbling-window arithmetic.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::event::EventTime;

/// The start of the tumbling window of length `size_ms` that contains `t`.
pub fn window_start(t: EventTime, size_ms: u64) -> EventTime {
    let size = size_ms.max(1);
    t - t % size
}

/// Formats tried, in order, for naive (zone-less) timestamps; taken as UTC.
const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S,%3f",
    "%Y/%m/%d %H:%M:%S%.f",
    "%y/%m/%d %H:%M:%S",
    "%y%m%d %H%M%S",
    "%Y%m%d %H:%M:%S%.f",
    "%Y-%m-%d-%H.%M.%S%.f",
    "%d/%b/%Y:%H:%M:%S",
    "%m-%d %H:%M:%S%.f",
    "%b %d %H:%M:%S",
    "%b %e %H:%M:%S",
    "%a %b %d %H:%M:%S %Y",
    "%m.%d %H:%M:%S",
];

/// Parses a timestamp in one of the common spellings and returns ms since the epoch (UTC).
///
/// Accepts RFC 3339 / ISO 8601 (with or without zone; zone-less means UTC), epoch seconds,
/// milliseconds, microseconds or nanoseconds as digits, Apache/syslog/Log4j styles and the
/// compact `yyMMdd HHmmss` form. Formats without a year (syslog) take `default_year`.
pub fn parse_timestamp(text: &str, default_year: i32) -> Option<EventTime> {
    let t = text.trim().trim_matches(|c| c == '[' || c == ']');
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && t.len() >= 9 {
        let n: u128 = t.parse().ok()?;
        // Pick the unit by magnitude: s, ms, µs or ns since the epoch.
        let ms = match t.len() {
            9..=11 => n * 1000,
            12..=14 => n,
            15..=17 => n / 1000,
            _ => n / 1_000_000,
        };
        return u64::try_from(ms).ok();
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return to_ms(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_str(t, "%d/%b/%Y:%H:%M:%S %z") {
        return to_ms(dt.with_timezone(&Utc));
    }
    let t = t.strip_suffix('Z').unwrap_or(t);
    for fmt in NAIVE_FORMATS {
        if let Ok(ndt) = NaiveDateTime::parse_from_str(t, fmt) {
            return to_ms(Utc.from_utc_datetime(&ndt));
        }
        // Year-less formats: chrono needs a year, so parse with one prepended.
        if !fmt.contains("%Y") && !fmt.contains("%y") {
            let with_year = format!("{default_year} {t}");
            if let Ok(ndt) = NaiveDateTime::parse_from_str(&with_year, &format!("%Y {fmt}")) {
                return to_ms(Utc.from_utc_datetime(&ndt));
            }
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return to_ms(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
    }
    None
}

fn to_ms(dt: DateTime<Utc>) -> Option<EventTime> {
    u64::try_from(dt.timestamp_millis()).ok()
}

/// The current calendar year (UTC), the default for year-less timestamps.
pub fn current_year() -> i32 {
    Utc::now().year()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_spellings() {
        let iso = parse_timestamp("2025-01-11T00:55:53.331Z", 2025).unwrap();
        assert_eq!(iso, 1_736_556_953_331);
        assert_eq!(parse_timestamp("2025-01-11 00:55:53.331", 2025), Some(iso));
        assert_eq!(parse_timestamp("2025-01-11 00:55:53,331", 2025), Some(iso));
        assert_eq!(parse_timestamp("1736556953331", 2025), Some(iso));
        assert_eq!(parse_timestamp("1736556953", 2025), Some(iso - 331));
        assert_eq!(parse_timestamp("1736556953331000000", 2025), Some(iso));
        assert_eq!(parse_timestamp("250111 005553", 2025), Some(iso - 331));
        assert_eq!(parse_timestamp("Jan 11 00:55:53", 2025), Some(iso - 331));
        assert_eq!(parse_timestamp("Jan  1 00:00:00", 2025), Some(1_735_689_600_000));
        assert_eq!(parse_timestamp("11/Jan/2025:00:55:53 +0000", 2025), Some(iso - 331));
        assert_eq!(parse_timestamp("2025-01-11T01:55:53.331+01:00", 2025), Some(iso));
        assert_eq!(parse_timestamp("not a time", 2025), None);
        assert_eq!(parse_timestamp("", 2025), None);
    }

    #[test]
    fn windows_are_aligned() {
        assert_eq!(window_start(3_600_000 * 5 + 17, 3_600_000), 3_600_000 * 5);
        assert_eq!(window_start(59_999, 60_000), 0);
        assert_eq!(window_start(60_000, 60_000), 60_000);
    }
}
