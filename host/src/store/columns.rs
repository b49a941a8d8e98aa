//! Column conversions the repositories share: timestamps as fixed-width text, typed names
//! as text, JSON documents as text. A stored value that does not convert back is a fault
//! of the stored data, reported as a backend error.

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::StoreError;
use crate::timestamp;

pub(super) fn corrupt(what: String) -> StoreError {
    StoreError::Backend(what.into())
}

pub(super) fn time(text: &str) -> Result<OffsetDateTime, StoreError> {
    timestamp::parse(text).ok_or_else(|| corrupt(format!("stored time '{text}' does not parse")))
}

pub(super) fn optional_time(text: Option<&str>) -> Result<Option<OffsetDateTime>, StoreError> {
    text.map(time).transpose()
}

pub(super) fn time_text(at: OffsetDateTime) -> String {
    timestamp::format(at)
}

pub(super) fn optional_time_text(at: Option<OffsetDateTime>) -> Option<String> {
    at.map(timestamp::format)
}

/// A typed value from its stored name; `parse` is the type's own.
pub(super) fn named<T>(
    column: &str,
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| corrupt(format!("stored {column} '{text}' is not a known value")))
}

pub(super) fn from_json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|err| corrupt(format!("stored {column} does not decode: {err}")))
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Backend(Box::new(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_garbage_is_a_backend_error() {
        let at = time("2026-01-02T03:04:05.123456Z").unwrap();
        assert_eq!(time_text(at), "2026-01-02T03:04:05.123456Z");
        assert!(matches!(time("yesterday"), Err(StoreError::Backend(_))));
        assert_eq!(optional_time(None).unwrap(), None);
        assert!(matches!(
            named("status", "maybe", |_| None::<()>),
            Err(StoreError::Backend(_))
        ));
    }
}
