//! `/api/v1/organizations`: tenants.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Json, Path, Query};
use super::keys::present;
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::model::Organization;
use crate::{Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/organizations").get(list).post(create),
        Route::at("/api/v1/organizations/{id}")
            .get(get_one)
            .put(update)
            .delete(delete),
    ]
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Organization> for OrganizationView {
    fn from(org: Organization) -> Self {
        Self {
            id: org.id,
            name: org.name,
            display_name: org.display_name,
            created_at: timestamp::format(org.created_at),
            updated_at: timestamp::format(org.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// Unique name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
}

/// List organizations (platform administrators see all; others their own).
#[utoipa::path(get, path = "/api/v1/organizations", tag = "tenancy", params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<OrganizationView>), (status = 400, body = super::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<OrganizationView>>> {
    state
        .require(&caller, Permission::OrganizationsRead)
        .await?;
    let page = page
        .fetch(
            |offset, per_page| state.tenancy.list_organizations(&caller, offset, per_page),
            OrganizationView::from,
        )
        .await?;
    Ok(Json(page))
}

/// Create an organization (platform administrators only).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "tenancy", request_body = CreateOrganization,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = OrganizationView), (status = 403, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateOrganization>,
) -> Result<(StatusCode, Json<OrganizationView>)> {
    state.require(&caller, Permission::PlatformAdmin).await?;
    let org = state
        .tenancy
        .create_organization(&caller, body.name, body.display_name)
        .await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "tenancy",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = OrganizationView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OrganizationView>> {
    state
        .require(&caller, Permission::OrganizationsRead)
        .await?;
    Ok(Json(
        state.tenancy.get_organization(&caller, &id).await?.into(),
    ))
}

#[utoipa::path(put, path = "/api/v1/organizations/{id}", tag = "tenancy", request_body = UpdateOrganization,
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = OrganizationView), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateOrganization>,
) -> Result<Json<OrganizationView>> {
    state
        .require(&caller, Permission::OrganizationsWrite)
        .await?;
    let org = state
        .tenancy
        .update_organization(&caller, &id, body.name, body.display_name)
        .await?;
    Ok(Json(org.into()))
}

/// Delete an empty organization (platform administrators only).
#[utoipa::path(delete, path = "/api/v1/organizations/{id}", tag = "tenancy",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.require(&caller, Permission::PlatformAdmin).await?;
    state.tenancy.delete_organization(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
