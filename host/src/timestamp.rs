//! Timestamps: UTC, RFC 3339, fixed width so that stored strings sort in time order.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const STORED: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The stored form of a point in time.
pub fn format(at: OffsetDateTime) -> String {
    // Formatting a valid UTC date with a fixed description cannot fail.
    at.to_offset(UtcOffset::UTC)
        .format(STORED)
        .unwrap_or_default()
}

pub fn now_string() -> String {
    format(now())
}

/// Parses RFC 3339 input from a client.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_and_sorts() {
        let a = parse("2026-01-02T03:04:05+02:00").unwrap();
        let b = parse("2026-01-02T03:04:05.5+02:00").unwrap();
        assert_eq!(format(a), "2026-01-02T01:04:05.000000Z");
        assert!(format(a) < format(b));
        assert_eq!(parse(&format(b)), Some(b));
    }
}
