//! Extractors whose rejections use the shared error shape, and the authenticated caller.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::{HeaderMap, header, request::Parts};

use super::AppState;
use crate::Error;
use crate::audit::{AuditEvent, Outcome, Severity};
use crate::auth::{Caller, client_ip};

/// `axum::Json` with our error shape for malformed, oversized or mistyped bodies.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Reads the credential from `Authorization: Bearer` or `X-API-Key`.
fn credential(headers: &HeaderMap) -> Result<&str, Error> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_| Error::Unauthorized("malformed Authorization header".into()))?;
        let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(Error::Unauthorized(
                "Authorization must be 'Bearer <API key or token>'".into(),
            ));
        }
        return Ok(token.trim());
    }
    if let Some(value) = headers.get("x-api-key") {
        return value
            .to_str()
            .map(str::trim)
            .map_err(|_| Error::Unauthorized("malformed X-API-Key header".into()));
    }
    Err(Error::Unauthorized(
        "missing credentials: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'".into(),
    ))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    #[tracing::instrument(name = "authenticate", skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let principal = state
            .api_keys
            .authenticate(credential(&parts.headers)?)
            .await?;
        let request_id = parts
            .headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let caller = Caller {
            principal,
            request_id,
        };

        if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            let ip = client_ip::client_ip(peer.ip(), forwarded, &state.config.auth.trusted_proxies);
            if !caller.principal.allows_ip(ip) {
                state
                    .audit
                    .record(AuditEvent {
                        organization_id: Some(caller.organization_id()),
                        actor: caller.principal.actor(),
                        action: "auth.ip_denied",
                        target: Some(&ip.to_string()),
                        severity: Severity::High,
                        outcome: Outcome::Denied,
                        request_id: caller.request_id.as_deref(),
                        details: None,
                    })
                    .await?;
                return Err(Error::Denied(format!(
                    "client address {ip} is not in this key's IP allowlist"
                )));
            }
        }

        state
            .rate_limits
            .check(&caller.principal.public_key)
            .map_err(|retry_after| Error::RateLimited { retry_after })?;
        Ok(caller)
    }
}

/// A JSON body that may be absent (no bytes): then `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Error> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| {
                Error::PayloadTooLarge(
                    "request body is larger than this server accepts (max_body_bytes)".into(),
                )
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|err| Error::BadRequest {
                field: None,
                message: format!("invalid request body: {err}"),
            })
    }
}
