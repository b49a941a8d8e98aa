//! Errors of the plugin runtime: [`PluginError`] for a call, [`LoadError`]
//! for start-up.

use std::path::PathBuf;

/// Why a plugin call failed. Every case names the plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The call ran past its wall-clock timeout or its CPU budget.
    #[error("plugin {plugin}: timed out after {limit_ms} ms ({what})")]
    Timeout {
        plugin: String,
        limit_ms: u64,
        what: &'static str,
    },
    /// The guest tried to grow its memory past the cap.
    #[error("plugin {plugin}: exceeded its memory limit of {limit_mb} MiB")]
    MemoryExceeded { plugin: String, limit_mb: u32 },
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access).
    #[error("plugin {plugin} crashed: {message}")]
    Trap { plugin: String, message: String },
    /// The plugin found the input invalid.
    #[error("plugin {plugin}: invalid input: {message}")]
    Invalid { plugin: String, message: String },
    /// The plugin, the host's network policy or the plugin's organization
    /// list refused the operation.
    #[error("plugin {plugin}: denied: {message}")]
    Denied { plugin: String, message: String },
    /// A remote service the plugin needs failed.
    #[error("plugin {plugin}: unavailable: {message}")]
    Unavailable { plugin: String, message: String },
    /// A transient failure; the caller may retry.
    #[error("plugin {plugin}: temporarily unavailable: {message}")]
    Retryable {
        plugin: String,
        message: String,
        after_seconds: Option<u32>,
    },
    /// A bug in the plugin or an unexpected runtime failure.
    #[error("plugin {plugin}: internal error: {message}")]
    Internal { plugin: String, message: String },
}

impl PluginError {
    pub fn plugin(&self) -> &str {
        match self {
            Self::Timeout { plugin, .. }
            | Self::MemoryExceeded { plugin, .. }
            | Self::Trap { plugin, .. }
            | Self::Invalid { plugin, .. }
            | Self::Denied { plugin, .. }
            | Self::Unavailable { plugin, .. }
            | Self::Retryable { plugin, .. }
            | Self::Internal { plugin, .. } => plugin,
        }
    }

    /// The HTTP status the API should answer with (documented in the WIT).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Invalid { .. } => 422,
            Self::Denied { .. } => 403,
            Self::Unavailable { .. } => 502,
            Self::Retryable { .. } => 503,
            Self::Timeout { .. } => 504,
            Self::MemoryExceeded { .. } | Self::Trap { .. } | Self::Internal { .. } => 500,
        }
    }

    /// Short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::MemoryExceeded { .. } => "memory_exceeded",
            Self::Trap { .. } => "trap",
            Self::Invalid { .. } => "invalid",
            Self::Denied { .. } => "denied",
            Self::Unavailable { .. } => "unavailable",
            Self::Retryable { .. } => "retryable",
            Self::Internal { .. } => "internal",
        }
    }
}

/// Why start-up could not load a plugin; stops the server.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {plugin}: {reason}")]
    InvalidConfig { plugin: String, reason: String },
    #[error("plugin {plugin}: cannot read {path}: {source}")]
    Read {
        plugin: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("plugin {plugin}: not a valid component: {message}")]
    Compile { plugin: String, message: String },
    #[error("plugin {plugin}: does not implement the {kind} world: {message}")]
    WrongWorld {
        plugin: String,
        kind: String,
        message: String,
    },
    #[error("plugin {plugin}: rejected its config: {source}")]
    Rejected {
        plugin: String,
        #[source]
        source: PluginError,
    },
    #[error("two plugins are named {0}")]
    Duplicate(String),
    #[error("cannot set up the plugin runtime: {0}")]
    Runtime(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_whose_fault_it_is() {
        let p = || "p".to_owned();
        let m = String::new;
        assert_eq!(
            PluginError::Invalid {
                plugin: p(),
                message: m()
            }
            .http_status(),
            422
        );
        assert_eq!(
            PluginError::Denied {
                plugin: p(),
                message: m()
            }
            .http_status(),
            403
        );
        assert_eq!(
            PluginError::Unavailable {
                plugin: p(),
                message: m()
            }
            .http_status(),
            502
        );
        let retry = PluginError::Retryable {
            plugin: p(),
            message: m(),
            after_seconds: None,
        };
        assert_eq!(retry.http_status(), 503);
        let timeout = PluginError::Timeout {
            plugin: p(),
            limit_ms: 1,
            what: "wall clock",
        };
        assert_eq!(timeout.http_status(), 504);
        assert_eq!(
            PluginError::Trap {
                plugin: p(),
                message: m()
            }
            .http_status(),
            500
        );
    }
}
