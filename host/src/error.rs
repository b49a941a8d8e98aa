//! The domain error: what went wrong, in words a caller can act on.
//! `api::error` maps each variant to one HTTP status, in one place.

use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; `field` names the offending input when there is one.
    #[error("{message}")]
    BadRequest {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Unauthorized(String),
    /// The caller lacks `permission`.
    #[error("missing permission '{permission}'")]
    Forbidden { permission: crate::auth::Permission },
    /// The caller may not do this for a reason other than a missing permission.
    #[error("{0}")]
    Denied(String),
    /// Nothing of that kind with that id exists for this caller.
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but breaks one or more rules.
    #[error("{}", .0.join("; "))]
    Unprocessable(Vec<String>),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("rate limit exceeded; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    /// A plugin refused or failed; the message names the plugin and the cause.
    #[error(transparent)]
    Plugin(#[from] crate::plugins::PluginError),
    /// A fault on our side. The source is logged, never shown to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self::BadRequest {
            message: format!("{field}: {message}"),
            field: Some(field),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Conflict => Self::Conflict("already exists".into()),
            StoreError::NotFound => Self::NotFound("record".into()),
            StoreError::Backend(source) => Self::Internal(anyhow::anyhow!(source)),
        }
    }
}

/// Gives a taken unique key (`StoreError::Conflict`) the domain's own error; every
/// other store error maps as usual.
pub trait OnConflict<T> {
    fn on_conflict(self, error: impl FnOnce() -> Error) -> Result<T>;
}

impl<T> OnConflict<T> for std::result::Result<T, crate::store::StoreError> {
    fn on_conflict(self, error: impl FnOnce() -> Error) -> Result<T> {
        self.map_err(|err| match err {
            crate::store::StoreError::Conflict => error(),
            other => other.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn a_conflict_gets_the_domain_message_and_other_errors_keep_theirs() {
        let taken: std::result::Result<(), StoreError> = Err(StoreError::Conflict);
        let err = taken.on_conflict(|| Error::Conflict("name taken".into()));
        assert!(matches!(err, Err(Error::Conflict(m)) if m == "name taken"));
        let missing: std::result::Result<(), StoreError> = Err(StoreError::NotFound);
        let err = missing.on_conflict(|| Error::Conflict("name taken".into()));
        assert!(matches!(err, Err(Error::NotFound(_))));
    }
}
