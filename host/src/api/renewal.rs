//! Renewal at the reference API's paths: renew now, renewal history, the renewal queue.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::certificates::{CertificateView, view};
use super::extract::{Json, Path, Query};
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::model::RenewalRequest;
use crate::{Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/certificates/{id}/renew").post(renew),
        Route::at("/api/v1/certificates/{id}/renewal-history").get(history),
        Route::at("/api/v1/renewal-queue").get(queue),
        Route::at("/api/v1/renewal-queue/{id}/approve").post(approve),
        Route::at("/api/v1/renewal-queue/{id}/cancel").post(cancel),
    ]
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenewalView {
    pub id: String,
    pub certificate_id: String,
    /// `pending`, `renewed`, `cancelled` or `failed`.
    pub status: String,
    pub reason: String,
    /// When the certificate to renew expires.
    pub not_after: String,
    pub new_certificate_id: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
}

impl From<RenewalRequest> for RenewalView {
    fn from(request: RenewalRequest) -> Self {
        Self {
            id: request.id,
            certificate_id: request.certificate_id,
            status: request.status.as_str().into(),
            reason: request.reason,
            not_after: timestamp::format(request.not_after),
            new_certificate_id: request.new_certificate_id,
            decided_by: request.decided_by,
            decided_at: request.decided_at.map(timestamp::format),
            error: request.error,
            created_at: timestamp::format(request.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub id: String,
    pub serial_number: Option<String>,
    pub status: String,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub renewed_from: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// `pending`, `renewed`, `cancelled` or `failed`.
    pub status: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Trigger certificate renewal: same subject, SANs and template; a new key where the key was made here.
#[utoipa::path(post, path = "/api/v1/certificates/{id}/renew", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = CertificateView), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub(super) async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CertificateView>)> {
    state.require(&caller, Permission::CertificateWrite).await?;
    let certificate = state.pki.renew(&caller, &id).await?;
    Ok((StatusCode::CREATED, Json(view(certificate))))
}

/// Get renewal history: the chain of certificates that renewed each other, oldest first.
#[utoipa::path(get, path = "/api/v1/certificates/{id}/renewal-history", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = super::ErrorBody)))]
pub(super) async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>> {
    state.require(&caller, Permission::CertificateRead).await?;
    let chain = state.pki.renewal_history(&caller, &id).await?;
    let now = OffsetDateTime::now_utc();
    Ok(Json(
        chain
            .into_iter()
            .map(|certificate| HistoryEntry {
                status: certificate.visible_status(now).to_owned(),
                serial_number: certificate.serial_number().map(str::to_owned),
                not_before: certificate.not_before().map(timestamp::format),
                not_after: certificate.not_after().map(timestamp::format),
                created_at: timestamp::format(certificate.created_at),
                id: certificate.id,
                renewed_from: certificate.renewed_from,
            })
            .collect(),
    ))
}

/// List certificates pending renewal (and what became of earlier entries).
#[utoipa::path(get, path = "/api/v1/renewal-queue", tag = "certificates", params(QueueQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<RenewalView>), (status = 400, body = super::ErrorBody)))]
pub(super) async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<QueueQuery>,
) -> Result<Json<Page<RenewalView>>> {
    state.require(&caller, Permission::CertificateRead).await?;
    let page = PageQuery::new(query.page, query.per_page)
        .fetch(
            |offset, per_page| {
                state
                    .pki
                    .renewal_queue(&caller, query.status.as_deref(), offset, per_page)
            },
            RenewalView::from,
        )
        .await?;
    Ok(Json(page))
}

/// Approve renewal: the certificate is renewed now.
#[utoipa::path(post, path = "/api/v1/renewal-queue/{id}/approve", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = RenewalView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RenewalView>> {
    state.require(&caller, Permission::CertificateWrite).await?;
    Ok(Json(state.pki.approve_renewal(&caller, &id).await?.into()))
}

/// Cancel renewal.
#[utoipa::path(post, path = "/api/v1/renewal-queue/{id}/cancel", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = RenewalView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RenewalView>> {
    state.require(&caller, Permission::CertificateWrite).await?;
    Ok(Json(state.pki.cancel_renewal(&caller, &id).await?.into()))
}
