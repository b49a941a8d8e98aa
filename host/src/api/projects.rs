//! `/api/v1/projects` and their environments.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Json, Path, Query};
use super::keys::present;
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::model::{Environment, Project};
use crate::tenancy::Changes;
use crate::{Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/projects")
            .get(list_projects)
            .post(create_project),
        Route::at("/api/v1/projects/{id}")
            .get(get_project)
            .put(update_project)
            .delete(delete_project),
        Route::at("/api/v1/projects/{id}/environments")
            .get(list_environments)
            .post(create_environment),
        Route::at("/api/v1/projects/{id}/environments/{env}")
            .get(get_environment)
            .put(update_environment)
            .delete(delete_environment),
    ]
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Project> for ProjectView {
    fn from(project: Project) -> Self {
        Self {
            id: project.id,
            organization_id: project.organization_id,
            name: project.name,
            description: project.description,
            created_at: timestamp::format(project.created_at),
            updated_at: timestamp::format(project.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentView {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Environment> for EnvironmentView {
    fn from(env: Environment) -> Self {
        Self {
            id: env.id,
            project_id: env.project_id,
            name: env.name,
            description: env.description,
            created_at: timestamp::format(env.created_at),
            updated_at: timestamp::format(env.updated_at),
        }
    }
}

/// A project or an environment to create: the name is unique within its parent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNamed {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNamed {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

impl From<UpdateNamed> for Changes {
    fn from(body: UpdateNamed) -> Self {
        Self {
            name: body.name,
            description: body.description,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/projects", tag = "tenancy", params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<ProjectView>), (status = 400, body = super::ErrorBody)))]
pub(super) async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ProjectView>>> {
    state.require(&caller, Permission::ProjectsRead).await?;
    let page = page
        .fetch(
            |offset, per_page| state.tenancy.list_projects(&caller, offset, per_page),
            ProjectView::from,
        )
        .await?;
    Ok(Json(page))
}

#[utoipa::path(post, path = "/api/v1/projects", tag = "tenancy", request_body = CreateNamed,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = ProjectView), (status = 400, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateNamed>,
) -> Result<(StatusCode, Json<ProjectView>)> {
    state.require(&caller, Permission::ProjectsWrite).await?;
    let project = state
        .tenancy
        .create_project(&caller, body.name, body.description)
        .await?;
    Ok((StatusCode::CREATED, Json(project.into())))
}

#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "tenancy",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ProjectView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProjectView>> {
    state.require(&caller, Permission::ProjectsRead).await?;
    Ok(Json(state.tenancy.get_project(&caller, &id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/projects/{id}", tag = "tenancy", request_body = UpdateNamed,
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ProjectView), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn update_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateNamed>,
) -> Result<Json<ProjectView>> {
    state.require(&caller, Permission::ProjectsWrite).await?;
    let project = state
        .tenancy
        .update_project(&caller, &id, body.into())
        .await?;
    Ok(Json(project.into()))
}

#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "tenancy",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.require(&caller, Permission::ProjectsWrite).await?;
    state.tenancy.delete_project(&caller, &id).await?;
    state.jwt_keys.forget_project(&id);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/environments", tag = "tenancy",
    params(("id" = String, Path), PageQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<EnvironmentView>), (status = 404, body = super::ErrorBody)))]
pub(super) async fn list_environments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<EnvironmentView>>> {
    state.require(&caller, Permission::ProjectsRead).await?;
    let page = page
        .fetch(
            |offset, per_page| {
                state
                    .tenancy
                    .list_environments(&caller, &id, offset, per_page)
            },
            EnvironmentView::from,
        )
        .await?;
    Ok(Json(page))
}

#[utoipa::path(post, path = "/api/v1/projects/{id}/environments", tag = "tenancy",
    request_body = CreateNamed, params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = EnvironmentView), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn create_environment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<CreateNamed>,
) -> Result<(StatusCode, Json<EnvironmentView>)> {
    state.require(&caller, Permission::ProjectsWrite).await?;
    let env = state
        .tenancy
        .create_environment(&caller, &id, body.name, body.description)
        .await?;
    Ok((StatusCode::CREATED, Json(env.into())))
}

/// An environment by id or name.
#[utoipa::path(get, path = "/api/v1/projects/{id}/environments/{env}", tag = "tenancy",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = EnvironmentView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_environment(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env)): Path<(String, String)>,
) -> Result<Json<EnvironmentView>> {
    state.require(&caller, Permission::ProjectsRead).await?;
    Ok(Json(
        state
            .tenancy
            .get_environment(&caller, &id, &env)
            .await?
            .into(),
    ))
}

#[utoipa::path(put, path = "/api/v1/projects/{id}/environments/{env}", tag = "tenancy",
    request_body = UpdateNamed,
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = EnvironmentView), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn update_environment(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env)): Path<(String, String)>,
    Json(body): Json<UpdateNamed>,
) -> Result<Json<EnvironmentView>> {
    state.require(&caller, Permission::ProjectsWrite).await?;
    let row = state
        .tenancy
        .update_environment(&caller, &id, &env, body.into())
        .await?;
    Ok(Json(row.into()))
}

#[utoipa::path(delete, path = "/api/v1/projects/{id}/environments/{env}", tag = "tenancy",
    params(("id" = String, Path), ("env" = String, Path, description = "Environment id or name")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete_environment(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env)): Path<(String, String)>,
) -> Result<StatusCode> {
    state.require(&caller, Permission::ProjectsWrite).await?;
    state.tenancy.delete_environment(&caller, &id, &env).await?;
    Ok(StatusCode::NO_CONTENT)
}
