//! Named key material per project and environment, for the JWK sources:
//! `/api/v1/projects/{id}/environments/{env}/keys` and `.../keystores`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Json, Path};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::crypto::SecretString;
use crate::key_material::{Kept, UploadKey, UploadKeystore};
use crate::model::key_material::{KeystoreFile, PemKey, Stored};
use crate::model::{StoredKey, StoredKeystore};
use crate::{Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/projects/{id}/environments/{env}/keys")
            .get(list_keys)
            .post(upload_key),
        Route::at("/api/v1/projects/{id}/environments/{env}/keys/{name}")
            .get(get_key)
            .delete(delete_key),
        Route::at("/api/v1/projects/{id}/environments/{env}/keystores")
            .get(list_keystores)
            .post(upload_keystore),
        Route::at("/api/v1/projects/{id}/environments/{env}/keystores/{name}")
            .get(get_keystore)
            .delete(delete_keystore),
    ]
}

/// An uploaded key. A private key is never returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredKeyView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub project_id: String,
    pub environment_id: String,
    /// `PUBLIC_KEY` or `PRIVATE_KEY`.
    pub key_type: String,
    /// The key's encoding, from its PEM label: `SPKI` (`PUBLIC KEY`), `PKCS1`
    /// (`RSA PUBLIC KEY`, `RSA PRIVATE KEY`), `PKCS8` (`PRIVATE KEY`) or `SEC1`
    /// (`EC PRIVATE KEY`).
    pub encoding: String,
    /// The PEM, for public keys only.
    pub public_key_pem: Option<String>,
    pub created_at: String,
}

impl From<StoredKey> for StoredKeyView {
    fn from(key: StoredKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            description: key.description,
            project_id: key.project_id,
            environment_id: key.environment_id,
            key_type: key.material.key_type.as_str().to_owned(),
            encoding: key.material.encoding.as_str().to_owned(),
            public_key_pem: key.material.public_pem,
            created_at: timestamp::format(key.created_at),
        }
    }
}

/// An uploaded keystore. Its content and password are never returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeystoreView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub project_id: String,
    pub environment_id: String,
    /// `PKCS12` or `JKS`.
    pub format: String,
    pub size_bytes: i64,
    /// The entries' aliases, as read at upload.
    pub aliases: Vec<String>,
    pub created_at: String,
}

impl From<StoredKeystore> for KeystoreView {
    fn from(keystore: StoredKeystore) -> Self {
        Self {
            id: keystore.id,
            name: keystore.name,
            description: keystore.description,
            project_id: keystore.project_id,
            environment_id: keystore.environment_id,
            format: keystore.material.format.as_str().to_owned(),
            size_bytes: i64::try_from(keystore.material.size_bytes).unwrap_or(i64::MAX),
            aliases: keystore.material.aliases,
            created_at: timestamp::format(keystore.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadKeyRequest {
    /// Unique among the environment's keys; letters, digits, `-`, `_`, `.`.
    #[schema(example = "my-key")]
    pub name: String,
    pub description: Option<String>,
    /// One PEM block: `PUBLIC KEY`, `RSA PUBLIC KEY`, `PRIVATE KEY`, `RSA PRIVATE KEY` or
    /// `EC PRIVATE KEY`. Private keys are encrypted at rest.
    #[schema(value_type = String)]
    pub pem: SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadKeystoreRequest {
    /// Unique among the environment's keystores; letters, digits, `-`, `_`, `.`.
    #[schema(example = "my-keystore")]
    pub name: String,
    pub description: Option<String>,
    /// `PKCS12` or `JKS`.
    #[schema(example = "PKCS12")]
    pub format: String,
    /// The keystore file, base64.
    pub content: String,
    /// The keystore password; encrypted at rest, never returned.
    pub password: String,
}

/// List uploaded keys
#[utoipa::path(get, path = "/api/v1/projects/{id}/environments/{env}/keys", tag = "key-material",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [StoredKeyView]), (status = 404, body = super::ErrorBody)))]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env)): Path<(String, String)>,
) -> Result<Json<Vec<StoredKeyView>>> {
    list_material::<PemKey>(&state, &caller, &id, &env).await
}

/// Upload a PEM key
#[utoipa::path(post, path = "/api/v1/projects/{id}/environments/{env}/keys", tag = "key-material",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name")),
    request_body = UploadKeyRequest, security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = StoredKeyView), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn upload_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env)): Path<(String, String)>,
    Json(body): Json<UploadKeyRequest>,
) -> Result<(StatusCode, Json<StoredKeyView>)> {
    state.require(&caller, Permission::KeysWrite).await?;
    let key = state
        .key_material
        .upload_key(
            &caller,
            &id,
            &env,
            UploadKey {
                name: body.name,
                description: body.description,
                pem: body.pem,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(key.into())))
}

/// Get an uploaded key
#[utoipa::path(get, path = "/api/v1/projects/{id}/environments/{env}/keys/{name}",
    tag = "key-material",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name"),
           ("name" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = StoredKeyView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env, name)): Path<(String, String, String)>,
) -> Result<Json<StoredKeyView>> {
    get_material::<PemKey>(&state, &caller, &id, &env, &name).await
}

/// Delete an uploaded key
#[utoipa::path(delete, path = "/api/v1/projects/{id}/environments/{env}/keys/{name}",
    tag = "key-material",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name"),
           ("name" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env, name)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    delete_material::<PemKey>(&state, &caller, &id, &env, &name).await
}

/// List keystores
#[utoipa::path(get, path = "/api/v1/projects/{id}/environments/{env}/keystores",
    tag = "key-material",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [KeystoreView]), (status = 404, body = super::ErrorBody)))]
pub(super) async fn list_keystores(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env)): Path<(String, String)>,
) -> Result<Json<Vec<KeystoreView>>> {
    list_material::<KeystoreFile>(&state, &caller, &id, &env).await
}

/// Upload a keystore (PKCS#12 or JKS) with its password
#[utoipa::path(post, path = "/api/v1/projects/{id}/environments/{env}/keystores",
    tag = "key-material",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name")),
    request_body = UploadKeystoreRequest, security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = KeystoreView), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn upload_keystore(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env)): Path<(String, String)>,
    Json(body): Json<UploadKeystoreRequest>,
) -> Result<(StatusCode, Json<KeystoreView>)> {
    state.require(&caller, Permission::KeysWrite).await?;
    let keystore = state
        .key_material
        .upload_keystore(
            &caller,
            &id,
            &env,
            UploadKeystore {
                name: body.name,
                description: body.description,
                format: body.format,
                content: body.content,
                password: body.password,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(keystore.into())))
}

/// Get a keystore
#[utoipa::path(get, path = "/api/v1/projects/{id}/environments/{env}/keystores/{name}",
    tag = "key-material",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name"),
           ("name" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = KeystoreView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_keystore(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env, name)): Path<(String, String, String)>,
) -> Result<Json<KeystoreView>> {
    get_material::<KeystoreFile>(&state, &caller, &id, &env, &name).await
}

/// Delete a keystore
#[utoipa::path(delete, path = "/api/v1/projects/{id}/environments/{env}/keystores/{name}",
    tag = "key-material",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name"),
           ("name" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete_keystore(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env, name)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    delete_material::<KeystoreFile>(&state, &caller, &id, &env, &name).await
}

/// A kind of key material as this API shows it.
trait Shown: Kept {
    type View: From<Stored<Self>>;
}

impl Shown for PemKey {
    type View = StoredKeyView;
}

impl Shown for KeystoreFile {
    type View = KeystoreView;
}

async fn list_material<T: Shown>(
    state: &AppState,
    caller: &Caller,
    project: &str,
    env: &str,
) -> Result<Json<Vec<T::View>>> {
    state.require(caller, Permission::KeysRead).await?;
    let stored = state.key_material.list::<T>(caller, project, env).await?;
    Ok(Json(stored.into_iter().map(T::View::from).collect()))
}

async fn get_material<T: Shown>(
    state: &AppState,
    caller: &Caller,
    project: &str,
    env: &str,
    name: &str,
) -> Result<Json<T::View>> {
    state.require(caller, Permission::KeysRead).await?;
    let stored = state
        .key_material
        .get::<T>(caller, project, env, name)
        .await?;
    Ok(Json(stored.into()))
}

async fn delete_material<T: Shown>(
    state: &AppState,
    caller: &Caller,
    project: &str,
    env: &str,
    name: &str,
) -> Result<StatusCode> {
    state.require(caller, Permission::KeysWrite).await?;
    state
        .key_material
        .delete::<T>(caller, project, env, name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
