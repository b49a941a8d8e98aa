//! JWK objects at `/apiops/projects/{projectName}/jwks/`, and each
//! environment's public JWKS at `/api/v1/projects/{id}/environments/{env}/jwks.json`.
//!
//! Errors on this surface use the shared body, `{"error": "bad_request",
//! "error_description": "..."}`, with the texts of the JWK API.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::{Json, Path};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::jwk_objects::{Deployment, JwkInput, PublishedJwk};
use crate::{Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/apiops/projects/{projectName}/jwks/")
            .get(list)
            .post(create)
            .put(update),
        Route::at("/apiops/projects/{projectName}/jwks/{jwkName}/")
            .get(get_one)
            .put(update_one)
            .delete(delete),
        Route::at("/api/v1/projects/{id}/environments/{env}/jwks.json").get(environment_jwks),
    ]
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentResultView {
    #[schema(example = "production")]
    pub environment_name: String,
    pub success: bool,
    #[schema(example = "Deployed successfully")]
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentResultView {
    pub success: bool,
    #[schema(example = "Deployment completed successfully")]
    pub message: String,
    pub environment_results: Vec<EnvironmentResultView>,
}

/// The answer to a create or update: the object is published in every environment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeployResponse {
    pub success: bool,
    pub deployment_result: DeploymentResultView,
}

impl From<Deployment> for DeployResponse {
    fn from(d: Deployment) -> Self {
        Self {
            success: true,
            deployment_result: DeploymentResultView {
                success: d.success,
                message: d.message,
                environment_results: d
                    .environment_results
                    .into_iter()
                    .map(|r| EnvironmentResultView {
                        environment_name: r.environment_name,
                        success: r.success,
                        message: r.message,
                    })
                    .collect(),
            },
        }
    }
}

/// A JWK object: its source fields, its public JWK and where it is published.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JwkView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub source_type: String,
    /// The `kid` of the published JWK.
    pub kid: String,
    /// The source fields the object was made from (never a pasted JWK or a secret).
    #[schema(value_type = Object)]
    pub source: Value,
    /// The public JWK, as published.
    #[schema(value_type = Object)]
    pub jwk: Value,
    /// Names of the environments whose JWKS has it.
    pub environments: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<PublishedJwk> for JwkView {
    fn from(published: PublishedJwk) -> Self {
        let o = published.object;
        let mut source = o.source;
        source.retain(|_, v| !v.is_null());
        Self {
            id: o.id,
            name: o.name,
            description: o.description,
            source_type: o.source_type.as_str().to_owned(),
            kid: o.kid,
            source: Value::Object(source),
            jwk: Value::Object(o.jwk),
            environments: published.environments,
            created_at: timestamp::format(o.created_at),
            updated_at: timestamp::format(o.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JwkListResponse {
    pub success: bool,
    pub result_list: Vec<JwkView>,
    pub result_count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessResponse {
    pub success: bool,
}

/// List a project's JWK objects
#[utoipa::path(get, path = "/apiops/projects/{projectName}/jwks/", tag = "jwks",
    params(("projectName" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = JwkListResponse), (status = 404, body = super::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<JwkListResponse>> {
    state.require(&caller, Permission::KeysRead).await?;
    let objects = state.jwk_objects.list(&caller, &project).await?;
    let result_list: Vec<JwkView> = objects.into_iter().map(JwkView::from).collect();
    Ok(Json(JwkListResponse {
        success: true,
        result_count: result_list.len(),
        result_list,
    }))
}

/// Create a JWK object and publish it in every environment
#[utoipa::path(post, path = "/apiops/projects/{projectName}/jwks/", tag = "jwks",
    params(("projectName" = String, Path)),
    request_body = JwkInput, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeployResponse), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    Json(body): Json<JwkInput>,
) -> Result<Json<DeployResponse>> {
    state.require(&caller, Permission::KeysWrite).await?;
    let (_, deployment) = state.jwk_objects.create(&caller, &project, body).await?;
    Ok(Json(deployment.into()))
}

/// Update a JWK object named in the body (the name cannot change)
#[utoipa::path(put, path = "/apiops/projects/{projectName}/jwks/", tag = "jwks",
    params(("projectName" = String, Path)),
    request_body = JwkInput, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeployResponse), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    Json(body): Json<JwkInput>,
) -> Result<Json<DeployResponse>> {
    deploy_update(&state, &caller, &project, None, body).await
}

/// Get a JWK object
#[utoipa::path(get, path = "/apiops/projects/{projectName}/jwks/{jwkName}/", tag = "jwks",
    params(("projectName" = String, Path), ("jwkName" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = JwkView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
) -> Result<Json<JwkView>> {
    state.require(&caller, Permission::KeysRead).await?;
    let object = state.jwk_objects.get(&caller, &project, &name).await?;
    Ok(Json(object.into()))
}

/// Update a JWK object (a `name` in the body must be the path's)
#[utoipa::path(put, path = "/apiops/projects/{projectName}/jwks/{jwkName}/", tag = "jwks",
    params(("projectName" = String, Path), ("jwkName" = String, Path)),
    request_body = JwkInput, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeployResponse), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn update_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Json(body): Json<JwkInput>,
) -> Result<Json<DeployResponse>> {
    deploy_update(&state, &caller, &project, Some(&name), body).await
}

/// Updates the JWK object `name` names, or the body's when `None`, and redeploys it.
async fn deploy_update(
    state: &AppState,
    caller: &Caller,
    project: &str,
    name: Option<&str>,
    body: JwkInput,
) -> Result<Json<DeployResponse>> {
    state.require(caller, Permission::KeysWrite).await?;
    let (_, deployment) = state
        .jwk_objects
        .update(caller, project, name, body)
        .await?;
    Ok(Json(deployment.into()))
}

/// Delete a JWK object; it leaves every environment's JWKS
#[utoipa::path(delete, path = "/apiops/projects/{projectName}/jwks/{jwkName}/", tag = "jwks",
    params(("projectName" = String, Path), ("jwkName" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = SuccessResponse), (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
) -> Result<Json<SuccessResponse>> {
    state.require(&caller, Permission::KeysWrite).await?;
    state.jwk_objects.delete(&caller, &project, &name).await?;
    Ok(Json(SuccessResponse { success: true }))
}

/// An environment's public JWKS: the public parts of the JWK objects published there
#[utoipa::path(get, path = "/api/v1/projects/{id}/environments/{env}/jwks.json", tag = "jwks",
    params(("id" = String, Path, description = "Project id"),
           ("env" = String, Path, description = "Environment id or name")),
    responses((status = 200, description = "A JWK Set", content_type = "application/jwk-set+json"),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn environment_jwks(
    State(state): State<AppState>,
    Path((id, env)): Path<(String, String)>,
) -> Result<Response> {
    let jwks = state.jwk_objects.environment_jwks(&id, &env).await?;
    let mut response = axum::Json(jwks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
