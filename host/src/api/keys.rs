//! API key management at `/keys` (reference API 003), plus a token exchange.

use std::time::SystemTime;

use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Json, Path, Query};
use super::{AppState, Route};
use crate::auth::{Caller, CreateKey, Permission, UpdateKey};
use crate::crypto::{SecretString, serialize_exposed};
use crate::model::ApiKey;
use crate::{Error, Result, timestamp};

pub const MAX_LIMIT: i64 = 64;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/keys").get(list_keys).post(create_key),
        Route::at("/keys/{publicKey}")
            .patch(update_key)
            .delete(delete_key),
        Route::at("/api/v1/auth/token").post(issue_token),
    ]
}

/// An API key as listed. `key` is the key's public identifier, never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// Allowed client addresses and CIDR blocks; empty means any.
    pub ips: Vec<String>,
    #[schema(example = "My API")]
    pub alias: Option<String>,
    /// The public key identifier, used in `/keys/{publicKey}`.
    #[schema(example = "pk_3kTMd8vQx1Yw0aZb7h2L")]
    pub key: String,
    pub created: String,
    pub expires: Option<String>,
    pub role: Option<String>,
    pub permissions: Vec<String>,
    pub project_id: Option<String>,
    pub organization_id: String,
}

/// A new key. `key` is the secret, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKeyView {
    pub ips: Vec<String>,
    pub alias: Option<String>,
    /// The API key secret. Store it now: it cannot be shown again.
    #[serde(serialize_with = "serialize_exposed")]
    #[schema(value_type = String)]
    pub key: SecretString,
    /// The identifier for `PATCH`/`DELETE /keys/{publicKey}`.
    pub public_key: String,
    pub created: String,
    pub expires: Option<String>,
    /// A short-lived bearer token for this key.
    #[serde(serialize_with = "serialize_exposed")]
    #[schema(value_type = String)]
    pub jwt: SecretString,
    pub jwt_expires: String,
    pub role: Option<String>,
    pub permissions: Vec<String>,
    pub project_id: Option<String>,
    pub organization_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateKeyRequest {
    /// Allowed client addresses and CIDR blocks; empty or absent means any.
    #[serde(default)]
    pub ips: Vec<String>,
    /// A human-readable name for the key.
    #[schema(example = "My Key")]
    pub alias: Option<String>,
    /// `admin`, `operator`, `requester` or `auditor`. Default: the creator's own grants.
    pub role: Option<String>,
    /// Explicit permissions instead of a role, e.g. `["certificate:read", "keys:*"]`.
    pub permissions: Option<Vec<String>>,
    /// Limit the key to one project.
    #[serde(alias = "project_id")]
    pub project_id: Option<String>,
    /// Create the key in another organization (platform administrators only).
    #[serde(alias = "organization_id")]
    pub organization_id: Option<String>,
    /// Expiry, RFC 3339. Default: never.
    pub expires: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    pub ips: Option<Vec<String>>,
    /// A human-readable name; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub alias: Option<Option<String>>,
    /// Expiry, RFC 3339; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub expires: Option<Option<String>>,
}

/// Tells a field sent as `null` (clear it) from one left out (keep it).
pub(super) fn present<'de, D, T>(
    deserializer: D,
) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// How many items to skip.
    #[param(minimum = 0, default = 0)]
    pub offset: Option<i64>,
    /// How many items to return at one time (max 64).
    #[param(minimum = 1, maximum = 64, default = 64)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    #[serde(serialize_with = "serialize_exposed")]
    #[schema(value_type = String)]
    pub token: SecretString,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires: String,
}

fn view(key: ApiKey) -> KeyView {
    KeyView {
        ips: key.ips,
        permissions: key.permissions,
        alias: key.alias,
        key: key.public_key,
        created: timestamp::format(key.created_at),
        expires: key.expires_at.map(timestamp::format),
        role: key.role,
        project_id: key.project_id,
        organization_id: key.organization_id,
    }
}

fn format_system_time(at: SystemTime) -> String {
    timestamp::format(at.into())
}

/// List all keys
#[utoipa::path(get, path = "/keys", tag = "keys", params(KeyListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "A paged array of keys", body = [KeyView]),
              (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody)))]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<KeyListQuery>,
) -> Result<Json<Vec<KeyView>>> {
    state.require(&caller, Permission::ApiKeysRead).await?;
    let offset = query.offset.unwrap_or(0);
    let limit = query.limit.unwrap_or(MAX_LIMIT);
    if offset < 0 {
        return Err(Error::bad_request("offset", "must be 0 or more"));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::bad_request(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let keys = state.api_keys.list(&caller, offset, limit).await?;
    Ok(Json(keys.into_iter().map(view).collect()))
}

/// Create a key
#[utoipa::path(post, path = "/keys", tag = "keys", request_body = CreateKeyRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Key has been created", body = CreatedKeyView),
              (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateKeyRequest>,
) -> Result<Json<CreatedKeyView>> {
    state.require(&caller, Permission::ApiKeysWrite).await?;
    let created = state
        .api_keys
        .create(
            &caller,
            CreateKey {
                alias: body.alias,
                ips: body.ips,
                role: body.role,
                permissions: body.permissions,
                project_id: body.project_id,
                organization_id: body.organization_id,
                expires: body.expires,
            },
        )
        .await?;
    let listed = view(created.key);
    Ok(Json(CreatedKeyView {
        ips: listed.ips,
        alias: listed.alias,
        key: created.secret,
        public_key: listed.key,
        created: listed.created,
        expires: listed.expires,
        jwt: created.jwt,
        jwt_expires: format_system_time(created.jwt_expires),
        role: listed.role,
        permissions: listed.permissions,
        project_id: listed.project_id,
        organization_id: listed.organization_id,
    }))
}

/// Update a key
#[utoipa::path(patch, path = "/keys/{publicKey}", tag = "keys", request_body = UpdateKeyRequest,
    params(("publicKey" = String, Path, description = "A public key")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Key has been updated", body = KeyView),
              (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn update_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(public_key): Path<String>,
    Json(body): Json<UpdateKeyRequest>,
) -> Result<Json<KeyView>> {
    state.require(&caller, Permission::ApiKeysWrite).await?;
    let key = state
        .api_keys
        .update(
            &caller,
            &public_key,
            UpdateKey {
                alias: body.alias,
                ips: body.ips,
                expires: body.expires,
            },
        )
        .await?;
    Ok(Json(view(key)))
}

/// Delete (revoke) a key
#[utoipa::path(delete, path = "/keys/{publicKey}", tag = "keys",
    params(("publicKey" = String, Path, description = "A public key")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Key has been deleted", body = Revoked),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(public_key): Path<String>,
) -> Result<Json<Revoked>> {
    state.require(&caller, Permission::ApiKeysWrite).await?;
    state.api_keys.revoke(&caller, &public_key).await?;
    Ok(Json(Revoked { revoked: true }))
}

/// Exchange the presented API key for a fresh short-lived bearer token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "keys",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TokenView), (status = 401, body = super::ErrorBody)))]
pub(super) async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TokenView>> {
    let (token, expires) = state.api_keys.issue_token(&caller)?;
    Ok(Json(TokenView {
        token: token.into(),
        token_type: "Bearer",
        expires: format_system_time(expires),
    }))
}
