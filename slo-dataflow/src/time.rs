//! Event time: parsing the timestamp spellings found in logs, tumbling-window arithmetic, and the
//! one duration grammar every flag, config file and SLO spec uses.
//!
//! Durations are one or more `<number><unit>` parts, largest unit first or not, added up:
//! `250ms`, `30s`, `5m`, `1h30m`, `0.5s`, `30d`, `2w`, `1y` (units `ms s m h d w y`; a year is
//! 365 days, a week 7). Whether a bare number is allowed (and in which unit) is the caller's
//! choice ([`BareNumber`]), so `--window 60000` keeps meaning milliseconds while an SLO period
//! must say its unit.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::event::EventTime;

/// Milliseconds in a minute: SLIs and histories are kept per minute.
pub const MINUTE_MS: u64 = 60_000;

/// What a number without a unit means to [`parse_duration_ms`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BareNumber {
    /// Milliseconds (`--window 60000`).
    Millis,
    /// Not a duration: the unit is required (SLO periods and alert windows).
    Reject,
}

/// Why a text is not a duration; the message quotes the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing but whitespace.
    #[error("empty duration")]
    Empty,
    /// A unit with no number before it, or a number that does not parse (`m5`, `1..5s`).
    #[error("invalid duration {0:?}: a unit needs a number before it")]
    MissingNumber(String),
    /// A unit outside `ms s m h d w y`.
    #[error("invalid duration {text:?}: unknown unit {unit:?}")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// A number at the end without a unit, where [`BareNumber::Reject`] asks for one.
    #[error("invalid duration {0:?}: missing unit (s, m, h, d, w, y)")]
    MissingUnit(String),
    /// Longer than a `u64` of milliseconds can hold.
    #[error("duration {0:?} overflows")]
    Overflow(String),
}

/// Parses a duration into milliseconds (fractions kept: `0.5ms` is `0.5`). See the module docs
/// for the grammar.
///
/// ```
/// use slo_dataflow::time::{parse_duration_ms, BareNumber};
///
/// assert_eq!(parse_duration_ms("1h30m", BareNumber::Reject), Ok(5_400_000.0));
/// assert_eq!(parse_duration_ms("0.5s", BareNumber::Millis), Ok(500.0));
/// assert_eq!(parse_duration_ms("60000", BareNumber::Millis), Ok(60_000.0));
/// assert!(parse_duration_ms("60000", BareNumber::Reject).is_err());
/// assert!(parse_duration_ms("5 parsecs", BareNumber::Millis).is_err());
/// ```
pub fn parse_duration_ms(text: &str, bare: BareNumber) -> Result<f64, DurationError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    let bytes = t.as_bytes();
    let mut total = 0.0_f64;
    let mut i = 0;
    while i < bytes.len() {
        let num_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &t[num_start..i];
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &t[unit_start..i];
        if number.is_empty() && unit.is_empty() {
            // Neither digit nor letter: a character no duration has.
            let c = t[i..].chars().next().unwrap_or(' ');
            return Err(DurationError::UnknownUnit { text: t.to_owned(), unit: c.to_string() });
        }
        let n: f64 = number.parse().map_err(|_| DurationError::MissingNumber(t.to_owned()))?;
        let scale = match unit {
            "" => match bare {
                // Only a lone number is bare: `1h30` is a mistake, not 1 h 30 ms.
                BareNumber::Millis if num_start == 0 => 1.0,
                _ => return Err(DurationError::MissingUnit(t.to_owned())),
            },
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3_600e3,
            "d" => 86_400e3,
            "w" => 7.0 * 86_400e3,
            "y" => 365.0 * 86_400e3,
            other => return Err(DurationError::UnknownUnit { text: t.to_owned(), unit: other.to_owned() }),
        };
        total += n * scale;
    }
    if !total.is_finite() || total >= u64::MAX as f64 {
        return Err(DurationError::Overflow(t.to_owned()));
    }
    Ok(total)
}

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
    fn durations_in_every_unit_and_combined() {
        let ms = |t| parse_duration_ms(t, BareNumber::Millis);
        assert_eq!(ms("1h"), Ok(3_600_000.0));
        assert_eq!(ms("5m"), Ok(300_000.0));
        assert_eq!(ms("30s"), Ok(30_000.0));
        assert_eq!(ms("250ms"), Ok(250.0));
        assert_eq!(ms("1000"), Ok(1000.0));
        assert_eq!(ms(" 2d "), Ok(172_800_000.0));
        assert_eq!(ms("1w"), Ok(604_800_000.0));
        assert_eq!(ms("1y"), Ok(31_536_000_000.0));
        assert_eq!(ms("1h30m"), Ok(5_400_000.0));
        assert_eq!(ms("0.5s"), Ok(500.0));
        assert_eq!(ms("1m500ms"), Ok(60_500.0));
        assert_eq!(ms("1h30"), Err(DurationError::MissingUnit("1h30".into())));
        assert_eq!(ms(""), Err(DurationError::Empty));
        assert_eq!(ms("m"), Err(DurationError::MissingNumber("m".into())));
        assert_eq!(ms("1..5s"), Err(DurationError::MissingNumber("1..5s".into())));
        assert_eq!(ms("5q"), Err(DurationError::UnknownUnit { text: "5q".into(), unit: "q".into() }));
        assert_eq!(ms("-5s"), Err(DurationError::UnknownUnit { text: "-5s".into(), unit: "-".into() }));
        assert!(matches!(ms("99999999999999999999y"), Err(DurationError::Overflow(_))));
        let strict = |t| parse_duration_ms(t, BareNumber::Reject);
        assert_eq!(strict("30d"), Ok(2_592_000_000.0));
        assert_eq!(strict("30"), Err(DurationError::MissingUnit("30".into())));
        assert_eq!(strict("30").unwrap_err().to_string(), "invalid duration \"30\": missing unit (s, m, h, d, w, y)");
    }

    proptest::proptest! {
        /// Whatever the parts, the sum comes back, and no input panics.
        #[test]
        fn parts_add_up(parts in proptest::collection::vec((0u32..10_000, 0usize..7), 1..5)) {
            const UNITS: [(&str, f64); 7] =
                [("ms", 1.0), ("s", 1e3), ("m", 60e3), ("h", 3_600e3), ("d", 86_400e3), ("w", 604_800e3), ("y", 31_536_000e3)];
            let text: String = parts.iter().map(|&(n, u)| format!("{n}{}", UNITS[u].0)).collect();
            let want: f64 = parts.iter().map(|&(n, u)| f64::from(n) * UNITS[u].1).sum();
            proptest::prop_assert_eq!(parse_duration_ms(&text, BareNumber::Reject), Ok(want));
        }

        #[test]
        fn never_panics(text in "\\PC{0,12}") {
            let _ = parse_duration_ms(&text, BareNumber::Millis);
        }
    }

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
