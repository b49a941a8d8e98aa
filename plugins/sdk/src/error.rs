//! Constructors for [`PluginError`], so plugins say whose fault an error is.

use crate::{PluginError, RetryAdvice};

impl PluginError {
    /// The caller's input is malformed or invalid (HTTP 422).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// The operation is not allowed (HTTP 403).
    pub fn denied(message: impl Into<String>) -> Self {
        Self::Denied(message.into())
    }

    /// A remote failed and retrying soon will not help (HTTP 502).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }

    /// A transient failure; retry later (HTTP 503).
    pub fn retryable(message: impl Into<String>, after_seconds: Option<u32>) -> Self {
        Self::Retryable(RetryAdvice {
            message: message.into(),
            after_seconds,
        })
    }

    /// A bug in the plugin (HTTP 500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }
}
