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

fn unreadable(column: &'static str, reason: impl std::fmt::Display) -> StoreError {
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
