//! JWT signing keys at `/api/keys/jwt` and each project's public JWKS at
//! `/api/keys/jwt/jwks/{accountId}` (reference API 000), camelCase JSON.

use std::sync::Arc;

use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Json, Path, Query};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::crypto::{SecretString, serialize_exposed};
use crate::jwt_keys::{GenerateKey, JwksDocument, JwtKeys, SignRequest};
use crate::model::JwtKey;
use crate::telemetry::HttpMetrics;
use crate::{Error, Result, timestamp};

/// The public JWKS route. It bypasses the middleware stack (see `super::UNLAYERED`).
pub(super) const JWKS_PATH: &str = "/api/keys/jwt/jwks/{accountId}";
const JWKS_PREFIX: &str = "/api/keys/jwt/jwks/";

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/keys/jwt").get(list),
        Route::at("/api/keys/jwt/generate").post(generate),
        Route::at("/api/keys/jwt/{id}").get(get_one).delete(delete),
        Route::at("/api/keys/jwt/{id}/public").get(public_key),
        Route::at("/api/keys/jwt/{id}/rotate").post(rotate),
        Route::at("/api/keys/jwt/{id}/sign").post(sign),
        Route::at("/api/keys/jwt/{id}/verify").post(verify),
        Route::at(JWKS_PATH).get(jwks),
    ]
}

/// A JWT signing key pair. The private key is never returned.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JwtKeyView {
    #[schema(example = "a1b2c3d4-5e6f-4a0b-9c8d-7e6f5a4b3c2d")]
    pub id: String,
    #[schema(example = "prod-signing-key")]
    pub name: String,
    #[schema(example = "RS256")]
    pub algorithm: String,
    /// The key id in JWS headers and in the JWKS: the key's RFC 7638 thumbprint.
    pub kid: String,
    /// True once the key has been rotated: it verifies but no longer signs.
    pub deprecated: bool,
    pub created_at: String,
    /// RSA modulus length in bits (RSA keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<i64>,
    /// `P-256`, `P-384`, `P-521` or `Ed25519` (elliptic-curve and Edwards keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<&'static str>,
    /// The project (account) the key belongs to.
    pub project_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated_at: Option<String>,
    /// The key that replaced this one on rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
}

impl From<JwtKey> for JwtKeyView {
    fn from(key: JwtKey) -> Self {
        Self {
            curve: key.algorithm.curve(),
            deprecated: key.is_deprecated(),
            algorithm: key.algorithm.name().to_owned(),
            created_at: timestamp::format(key.created_at),
            key_size: key.key_size.map(i64::from),
            deprecated_at: key.deprecated_at.map(timestamp::format),
            id: key.id,
            name: key.name,
            kid: key.kid,
            project_id: key.project_id,
            replaced_by: key.replaced_by,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    /// The project (account). Default: the key's own project for a project-scoped API
    /// key, else the organization's `default` project.
    pub project_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GenerateRequest {
    /// Human-readable name for the key pair; unique among a project's active keys.
    #[schema(example = "prod-signing-key")]
    pub name: String,
    /// `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384`, `ES512` or `EdDSA`.
    #[schema(example = "RS256")]
    pub algorithm: String,
    /// RSA only: 2048 (default) or 4096. Ignored for other key types.
    #[schema(example = 4096)]
    pub key_size: Option<i64>,
    /// The project (account); see `GET /api/keys/jwt`.
    pub project_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `jwk` (default) or `pem`.
    pub format: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignBody {
    /// The JWT claims. `iat` is set to now unless given.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"sub": "user-1", "aud": "api"}))]
    pub claims: Map<String, Value>,
    /// Sets `exp` this many seconds after now (1 s to 10 years).
    #[schema(example = 3600)]
    pub expires_in: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedView {
    /// The compact JWS; its header names the key in `kid`.
    #[serde(serialize_with = "serialize_exposed")]
    #[schema(value_type = String)]
    pub token: SecretString,
    pub kid: String,
    pub algorithm: &'static str,
    /// `iat`, seconds since the epoch.
    pub issued_at: i64,
    /// `exp`, seconds since the epoch, when the token has one.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// A compact JWS.
    #[schema(value_type = String)]
    pub token: SecretString,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    /// Signature by this key, and `exp`/`nbf` against the clock.
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub header: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Value>,
}

/// List JWT keys
///
/// All JWT key pairs of one project (account), newest first, deprecated ones included.
#[utoipa::path(get, path = "/api/keys/jwt", tag = "jwt-keys", params(ProjectQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [JwtKeyView]), (status = 400, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ProjectQuery>,
) -> Result<Json<Vec<JwtKeyView>>> {
    state.require(&caller, Permission::KeysRead).await?;
    let keys = state
        .jwt_keys
        .list(&caller, query.project_id.as_deref())
        .await?;
    Ok(Json(keys.into_iter().map(JwtKeyView::from).collect()))
}

/// Generate a JWT key pair
///
/// The private key is encrypted at rest and never returned in API responses.
#[utoipa::path(post, path = "/api/keys/jwt/generate", tag = "jwt-keys",
    request_body = GenerateRequest, security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = JwtKeyView), (status = 400, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn generate(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<GenerateRequest>,
) -> Result<(StatusCode, Json<JwtKeyView>)> {
    state.require(&caller, Permission::KeysWrite).await?;
    let key = state
        .jwt_keys
        .generate(
            &caller,
            GenerateKey {
                project_id: body.project_id,
                name: body.name,
                algorithm: body.algorithm,
                key_size: body.key_size,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(key.into())))
}

/// Get a JWT key
#[utoipa::path(get, path = "/api/keys/jwt/{id}", tag = "jwt-keys",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = JwtKeyView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JwtKeyView>> {
    state.require(&caller, Permission::KeysRead).await?;
    Ok(Json(state.jwt_keys.get(&caller, &id).await?.into()))
}

/// Delete a JWT key
///
/// Permanently deletes the key pair: it leaves the JWKS at once, and tokens it signed no
/// longer verify.
#[utoipa::path(delete, path = "/api/keys/jwt/{id}", tag = "jwt-keys",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 403, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.require(&caller, Permission::KeysWrite).await?;
    state.jwt_keys.delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Get a public key
///
/// The public key as a JWK (default) or as a PEM `SubjectPublicKeyInfo`.
#[utoipa::path(get, path = "/api/keys/jwt/{id}/public", tag = "jwt-keys",
    params(("id" = String, Path), FormatQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "A JWK, or PEM text with `format=pem`",
               content((Object = "application/json"), (String = "application/x-pem-file"))),
              (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn public_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<FormatQuery>,
) -> Result<Response> {
    state.require(&caller, Permission::KeysRead).await?;
    let format = query.format.as_deref().unwrap_or("jwk");
    if !matches!(format, "jwk" | "pem") {
        return Err(Error::bad_request(
            "format",
            format!("'{format}' is not a format; use jwk or pem"),
        ));
    }
    let key = state.jwt_keys.get(&caller, &id).await?;
    Ok(if format == "pem" {
        (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            key.public_pem,
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], key.public_jwk).into_response()
    })
}

/// Rotate a JWT key
///
/// Generates a new key pair with the same name and algorithm. The previous key is marked
/// deprecated but not deleted: tokens signed with it stay verifiable, and it stays in the
/// JWKS for the rollover window (`[jwks] rollover_secs`).
#[utoipa::path(post, path = "/api/keys/jwt/{id}/rotate", tag = "jwt-keys",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = JwtKeyView), (status = 404, body = super::ErrorBody),
              (status = 409, description = "The key is already deprecated",
               body = super::ErrorBody)))]
pub(super) async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<JwtKeyView>)> {
    state.require(&caller, Permission::KeysWrite).await?;
    let key = state.jwt_keys.rotate(&caller, &id).await?;
    Ok((StatusCode::CREATED, Json(key.into())))
}

/// Sign claims
///
/// Signs the claims with the key (which never leaves Keystead) and returns a compact
/// JWS with `typ: JWT` and the key's `kid` in its header. A deprecated key refuses (409).
#[utoipa::path(post, path = "/api/keys/jwt/{id}/sign", tag = "jwt-keys",
    params(("id" = String, Path)), request_body = SignBody,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = SignedView), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody),
              (status = 409, description = "The key is deprecated", body = super::ErrorBody)))]
pub(super) async fn sign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<SignBody>,
) -> Result<Json<SignedView>> {
    state.require(&caller, Permission::KeysWrite).await?;
    let signed = state
        .jwt_keys
        .sign(
            &caller,
            &id,
            SignRequest {
                claims: body.claims,
                expires_in: body.expires_in,
            },
        )
        .await?;
    Ok(Json(SignedView {
        token: signed.token,
        kid: signed.kid,
        algorithm: signed.algorithm,
        issued_at: signed.issued_at,
        expires_at: signed.expires_at,
    }))
}

/// Verify a token
///
/// Checks a compact JWS against this key (deprecated keys included) and its `exp`/`nbf`
/// against the clock. An invalid token is a 200 with `valid: false` and the reason.
#[utoipa::path(post, path = "/api/keys/jwt/{id}/verify", tag = "jwt-keys",
    params(("id" = String, Path)), request_body = VerifyBody,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = VerificationView), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<VerifyBody>,
) -> Result<Json<VerificationView>> {
    state.require(&caller, Permission::KeysRead).await?;
    let result = state
        .jwt_keys
        .verify(&caller, &id, body.token.expose())
        .await?;
    Ok(Json(VerificationView {
        valid: result.valid,
        reason: result.reason,
        header: result.header,
        claims: result.claims,
    }))
}

/// A project's JWKS (public)
///
/// The JSON Web Key Set of a project (account): its active keys, plus rotated keys still
/// inside the rollover window. No credentials needed. Answers `ETag`, honours
/// `If-None-Match` (304) and sets `Cache-Control: public, max-age`.
#[utoipa::path(get, path = "/api/keys/jwt/jwks/{accountId}", tag = "jwt-keys",
    params(("accountId" = String, Path, description = "The project id")),
    responses((status = 200, description = "The JWK Set", content_type = "application/json",
               body = Object, example = json!({"keys": [{"kty": "RSA", "n": "0vx7agoebGcQ...",
               "e": "AQAB", "alg": "RS256", "use": "sig", "kid": "NzbLsXh8..."}]})),
              (status = 304, description = "Not modified (`If-None-Match`)"),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn jwks(State(serving): State<JwksServing>, request: Request) -> Result<Response> {
    // The router matched one path segment after the prefix; read it without the Path
    // extractor's allocations. A percent-encoded id matches no project.
    let account_id = request
        .uri()
        .path()
        .strip_prefix(JWKS_PREFIX)
        .unwrap_or_default();
    serving.metrics.count_jwks_request();
    let document = serving.keys.jwks(account_id).await?;
    Ok(jwks_response(&document, request.headers(), serving.max_age))
}

/// What the JWKS handler needs of the state: cheaper to take per request than all of it.
pub(super) struct JwksServing {
    keys: Arc<JwtKeys>,
    metrics: Arc<HttpMetrics>,
    max_age: u64,
}

impl FromRef<AppState> for JwksServing {
    fn from_ref(state: &AppState) -> Self {
        Self {
            keys: state.jwt_keys.clone(),
            metrics: state.metrics.clone(),
            max_age: state.config.jwks.max_age_secs,
        }
    }
}

fn jwks_response(document: &JwksDocument, headers: &HeaderMap, max_age: u64) -> Response {
    // Caches must not keep a document past the moment a rotated key leaves it.
    let max_age = document.valid_until.map_or(max_age, |until| {
        let left = (until - timestamp::now()).whole_seconds().max(0);
        max_age.min(u64::try_from(left).unwrap_or(0))
    });
    let cache_control = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or(HeaderValue::from_static("no-cache"));
    let etag = HeaderValue::from_maybe_shared(document.etag.clone()).ok();
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|list| etag_matches(list, document.etag_str()));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            document.body.clone(),
        )
            .into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, cache_control);
    if let Some(etag) = etag {
        out.insert(header::ETAG, etag);
    }
    out.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `If-None-Match` uses the weak comparison (RFC 9110 section 13.1.2).
fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
