//! Dates as the DocSpace server writes and reads them.
//!
//! The server writes every `ApiDateTime` as a string with seven fractional
//! digits (API-NOTES §1.1, §16). This module owns that format and the lenient
//! parsing of dates that arrive in query strings and request bodies; it knows
//! nothing about HTTP or the portal state.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Formats a date the way the server does: `2026-05-01T09:30:00.0000000Z`.
pub fn format(date: &DateTime<Utc>) -> String {
    // Leap-second nanos can exceed 1e9; clamp so we never print 8 digits.
    let ticks = (date.timestamp_subsec_nanos() / 100).min(9_999_999);
    format!("{}.{ticks:07}Z", date.format("%Y-%m-%dT%H:%M:%S"))
}

/// Drops precision below the server's 100 ns tick, so a date that went out
/// as a string and came back compares equal.
pub fn to_ticks(date: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = date.timestamp_subsec_nanos();
    date - chrono::Duration::nanoseconds(i64::from(nanos % 100))
}

/// Reads an RFC 3339 date, an offset-less date-time, or a bare `YYYY-MM-DD`
/// (all accepted by the server's `ApiDateTime` converters).
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(to_ticks(d.with_timezone(&Utc)));
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(to_ticks(n.and_utc()));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn seven_fractional_digits() {
        let d = Utc.with_ymd_and_hms(2026, 5, 1, 9, 30, 0).unwrap();
        assert_eq!(format(&d), "2026-05-01T09:30:00.0000000Z");
        let d = d + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(format(&d), "2026-05-01T09:30:00.1234567Z");
    }

    #[test]
    fn round_trip_is_exact_at_tick_precision() {
        let d = to_ticks(Utc::now());
        assert_eq!(parse(&format(&d)), Some(d));
        assert_eq!(
            parse("2026-05-01"),
            Some(Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(
            parse("2026-05-01T12:00:00.0000000+03:00"),
            Some(Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap())
        );
        assert_eq!(parse("garbage"), None);
    }
}
