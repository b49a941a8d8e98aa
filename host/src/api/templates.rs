//! `/api/v1/templates`: what a certificate request may ask for.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Json, Path, Query};
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::pki::TemplateInput;
use crate::pki::template::TemplateRules;
use crate::store::TemplateRow;
use crate::{Error, Result};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route {
            path: "/api/v1/templates",
            methods: &[Method::GET, Method::POST],
            handlers: get(list).post(create),
        },
        Route {
            path: "/api/v1/templates/{id}",
            methods: &[Method::GET, Method::PUT, Method::DELETE],
            handlers: get(get_one).put(update).delete(delete),
        },
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

fn view(row: TemplateRow) -> Result<TemplateView> {
    Ok(TemplateView {
        rules: serde_json::from_str(&row.rules).map_err(Error::internal)?,
        id: row.id,
        name: row.name,
        description: row.description,
        ca_id: row.ca_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
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
    state.authz.require(&caller, Permission::CaRead).await?;
    let (page_no, per_page, offset) = page.resolve()?;
    let (rows, total) = state.pki.list_templates(&caller, offset, per_page).await?;
    let data = rows.into_iter().map(view).collect::<Result<Vec<_>>>()?;
    Ok(Json(Page {
        data,
        pagination: super::pagination::Pagination {
            page: page_no,
            per_page,
            total,
        },
    }))
}

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", request_body = TemplateBody,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = TemplateView), (status = 400, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<TemplateBody>,
) -> Result<(StatusCode, Json<TemplateView>)> {
    state.authz.require(&caller, Permission::CaWrite).await?;
    let row = state.pki.create_template(&caller, body.into()).await?;
    Ok((StatusCode::CREATED, Json(view(row)?)))
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
    state.authz.require(&caller, Permission::CaRead).await?;
    Ok(Json(view(state.pki.get_template(&caller, &id).await?)?))
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
    state.authz.require(&caller, Permission::CaWrite).await?;
    Ok(Json(view(
        state.pki.update_template(&caller, &id, body.into()).await?,
    )?))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.authz.require(&caller, Permission::CaWrite).await?;
    state.pki.delete_template(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
