//! `/api/v1/templates`: what a certificate request may ask for.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Json, Path, Query};
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::model::{Template, TemplateRules};
use crate::pki::TemplateInput;
use crate::{Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/templates").get(list).post(create),
        Route::at("/api/v1/templates/{id}")
            .get(get_one)
            .put(update)
            .delete(delete),
    ]
}

/// A template: its name, the CA that signs, and its rules.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    pub name: String,
    pub description: Option<String>,
    pub ca_id: String,
    #[serde(default)]
    pub rules: TemplateRules,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub ca_id: String,
    pub rules: TemplateRules,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Template> for TemplateView {
    fn from(template: Template) -> Self {
        Self {
            id: template.id,
            name: template.name,
            description: template.description,
            ca_id: template.ca_id,
            rules: template.rules,
            created_at: timestamp::format(template.created_at),
            updated_at: timestamp::format(template.updated_at),
        }
    }
}

impl From<TemplateBody> for TemplateInput {
    fn from(body: TemplateBody) -> Self {
        Self {
            name: body.name,
            description: body.description,
            ca_id: body.ca_id,
            rules: body.rules,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<TemplateView>)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<TemplateView>>> {
    state.require(&caller, Permission::CaRead).await?;
    let page = page
        .fetch(
            |offset, per_page| state.pki.list_templates(&caller, offset, per_page),
            TemplateView::from,
        )
        .await?;
    Ok(Json(page))
}

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", request_body = TemplateBody,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = TemplateView), (status = 400, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<TemplateBody>,
) -> Result<(StatusCode, Json<TemplateView>)> {
    state.require(&caller, Permission::CaWrite).await?;
    let template = state.pki.create_template(&caller, body.into()).await?;
    Ok((StatusCode::CREATED, Json(template.into())))
}

/// A template by id or name.
#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TemplateView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TemplateView>> {
    state.require(&caller, Permission::CaRead).await?;
    Ok(Json(state.pki.get_template(&caller, &id).await?.into()))
}

/// Replace a template (the whole body, as for create).
#[utoipa::path(put, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    request_body = TemplateBody, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TemplateView), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<TemplateBody>,
) -> Result<Json<TemplateView>> {
    state.require(&caller, Permission::CaWrite).await?;
    Ok(Json(
        state
            .pki
            .update_template(&caller, &id, body.into())
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.require(&caller, Permission::CaWrite).await?;
    state.pki.delete_template(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
