//! The one mapping from errors to HTTP responses:
//! `{"error": "<code>", "error_description": "<text>"}` with the matching status.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::Error;
use crate::plugins::PluginError;

/// The error body every route answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `bad_request`, `forbidden`, `not_found`.
    #[schema(example = "bad_request")]
    pub error: &'static str,
    /// What went wrong, for a human.
    pub error_description: String,
    /// The offending request field, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every rule a request broke (422 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violations: Option<Vec<String>>,
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } | Self::Denied(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Plugin(err) => match err {
                PluginError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                PluginError::Denied { .. } => StatusCode::FORBIDDEN,
                PluginError::Retryable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                PluginError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                // A crashed or failing plugin is a failed dependency, like an upstream server.
                _ => StatusCode::BAD_GATEWAY,
            },
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden { .. } | Self::Denied(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unprocessable(_) => "unprocessable_entity",
            Self::RateLimited { .. } => "too_many_requests",
            Self::Plugin(_) => "plugin_error",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Self::Internal(source) = &self {
            // The cause goes to the log; the client learns only that it was our fault.
            tracing::error!(error = %format!("{source:#}"), "internal error");
        }
        let body = ErrorBody {
            error: self.code(),
            error_description: self.to_string(),
            field: match &self {
                Self::BadRequest { field, .. } => field.clone(),
                _ => None,
            },
            violations: match &self {
                Self::Unprocessable(list) => Some(list.clone()),
                _ => None,
            },
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        match &self {
            Self::RateLimited { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            Self::Plugin(PluginError::Retryable {
                after_seconds: Some(secs),
                ..
            }) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(
                "request body is larger than this server accepts (max_body_bytes)".into(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(
                "expected a body with Content-Type: application/json".into(),
            ),
            _ => {
                let text = rejection.body_text();
                // serde's message names the field path, e.g. "ips[0]: invalid type ...".
                let message = if let Some(m) =
                    text.strip_prefix("Failed to deserialize the JSON body into the target type: ")
                {
                    format!("invalid request body: {m}")
                } else if let Some(m) =
                    text.strip_prefix("Failed to parse the request body as JSON: ")
                {
                    format!("malformed JSON: {m}")
                } else {
                    text
                };
                Self::BadRequest {
                    field: None,
                    message,
                }
            }
        }
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest {
            field: None,
            message: format!("invalid path: {}", rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        let message = text
            .strip_prefix("Failed to deserialize query string: ")
            .unwrap_or(&text);
        Self::BadRequest {
            field: None,
            message: format!("invalid query: {message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Permission;
    use std::time::Duration;

    #[test]
    fn statuses_and_codes() {
        let cases = [
            (Error::bad_request("ips[0]", "bad"), 400, "bad_request"),
            (Error::Unauthorized("x".into()), 401, "unauthorized"),
            (
                Error::Forbidden {
                    permission: Permission::AuditRead,
                },
                403,
                "forbidden",
            ),
            (Error::NotFound("project 'x'".into()), 404, "not_found"),
            (Error::Conflict("x".into()), 409, "conflict"),
            (Error::PayloadTooLarge("x".into()), 413, "payload_too_large"),
            (
                Error::Unprocessable(vec!["a".into()]),
                422,
                "unprocessable_entity",
            ),
            (
                Error::RateLimited {
                    retry_after: Duration::from_millis(1500),
                },
                429,
                "too_many_requests",
            ),
            (
                Error::internal(anyhow::anyhow!("disk full")),
                500,
                "internal_error",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status().as_u16(), status);
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn forbidden_names_the_permission_and_internal_hides_the_cause() {
        let err = Error::Forbidden {
            permission: Permission::AuditRead,
        };
        assert_eq!(err.to_string(), "missing permission 'audit:read'");
        let err = Error::internal(anyhow::anyhow!("secret path /x"));
        assert_eq!(err.to_string(), "internal error");
    }

    #[test]
    fn retry_after_rounds_up() {
        let response = Error::RateLimited {
            retry_after: Duration::from_millis(1500),
        }
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
