//! JSON config helpers.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::PluginError;

/// Parses a JSON config (or any JSON argument). A malformed or mis-shaped
/// document is the caller's fault: `invalid-input`, with serde's message
/// (which names the field and the position).
pub fn parse<T: DeserializeOwned>(what: &str, json: &str) -> Result<T, PluginError> {
    let text = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(text).map_err(|err| PluginError::InvalidInput(format!("{what}: {err}")))
}

/// Serializes a value the host receives as JSON. Failing here is a plugin bug.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, PluginError> {
    serde_json::to_string(value)
        .map_err(|err| PluginError::Internal(format!("cannot encode JSON: {err}")))
}
