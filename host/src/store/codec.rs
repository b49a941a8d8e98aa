//! How typed domain values are written to their columns and read back. A stored value
//! that does not read back is a fault of the database's content: `StoreError::Backend`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::StoreError;
use crate::timestamp;

/// A column whose content the domain cannot read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable value in column {column}: {reason}")]
struct Unreadable {
    column: &'static str,
    reason: String,
}

pub(super) fn unreadable(column: &'static str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(Box::new(Unreadable {
        column,
        reason: reason.to_string(),
    }))
}

/// A timestamp column (see [`crate::timestamp`] for the stored form).
pub(super) fn time(column: &'static str, text: &str) -> Result<OffsetDateTime, StoreError> {
    timestamp::parse(text).ok_or_else(|| unreadable(column, format!("'{text}' is not a timestamp")))
}

pub(super) fn optional_time(
    column: &'static str,
    text: Option<&str>,
) -> Result<Option<OffsetDateTime>, StoreError> {
    text.map(|t| time(column, t)).transpose()
}

pub(super) fn optional_time_text(at: Option<OffsetDateTime>) -> Option<String> {
    at.map(timestamp::format)
}

/// A column holding a name, e.g. a status, read through the type's own parser.
pub(super) fn name<T>(
    column: &'static str,
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| unreadable(column, format!("unknown value '{text}'")))
}

/// A JSON-text column.
pub(super) fn json<T: DeserializeOwned>(column: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|err| unreadable(column, err))
}

pub(super) fn json_text<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Backend(Box::new(err)))
}

/// An integer column read into a narrower or unsigned type.
pub(super) fn int<T: TryFrom<i64>>(column: &'static str, value: i64) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| unreadable(column, format!("{value} is out of range")))
}

/// An unsigned count written to an INTEGER column.
pub(super) fn int_text<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_that_do_not_read_back_are_backend_faults() {
        assert!(matches!(
            time("t", "yesterday"),
            Err(StoreError::Backend(_))
        ));
        assert!(matches!(
            json::<Vec<String>>("j", "{"),
            Err(StoreError::Backend(_))
        ));
        assert!(matches!(int::<u32>("n", -1), Err(StoreError::Backend(_))));
        let err = name("status", "sleeping", |_| None::<()>).unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)));
        assert!(err.to_string().contains("status"), "{err}");
        assert_eq!(optional_time("t", None).unwrap(), None);
        let at = time("t", "2026-01-02T03:04:05.000006Z").unwrap();
        assert_eq!(
            optional_time_text(Some(at)).as_deref(),
            Some("2026-01-02T03:04:05.000006Z")
        );
        assert_eq!(int_text(7u32), 7);
    }
}
