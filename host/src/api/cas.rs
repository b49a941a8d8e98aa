//! `/api/v1/cas`: certificate authorities; their public certificates and CRLs.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Json, Path, Query};
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::model::{CaKind, CertificateAuthority, CrlKind, KeyAlgorithm, Subject};
use crate::pki::CreateCa;
use crate::{Error, Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/cas").get(list).post(create),
        Route::at("/api/v1/cas/{id}").get(get_one),
        Route::at("/api/v1/cas/{id}/disable").post(disable),
        Route::at("/api/v1/cas/{id}/certificate")
            .get(certificate)
            .post(upload_certificate),
        Route::at("/api/v1/ca/{id}/crl").get(crl),
        Route::at("/api/v1/ca/{id}/crl/regenerate").post(regenerate_crl),
    ]
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaView {
    pub id: String,
    pub name: String,
    /// `root` or `intermediate`.
    pub kind: String,
    pub parent_id: Option<String>,
    /// `active`, `pending_certificate` (waiting for an outside parent) or `disabled`.
    pub status: String,
    pub key_algorithm: String,
    pub subject: Subject,
    pub serial_number: Option<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub certificate_pem: Option<String>,
    /// The CSR to take to an outside parent, while `pending_certificate`.
    pub csr_pem: Option<String>,
    pub crl_url: String,
    pub ocsp_url: String,
    pub created_at: String,
}

fn view(state: &AppState, ca: CertificateAuthority) -> CaView {
    let urls = state.pki.ca_urls(&ca.id);
    CaView {
        id: ca.id,
        name: ca.name,
        kind: ca.kind.as_str().into(),
        parent_id: ca.parent_id,
        status: ca.status.as_str().into(),
        key_algorithm: ca.key_algorithm.label(),
        subject: ca.subject,
        serial_number: ca.serial_number,
        not_before: ca.not_before.map(timestamp::format),
        not_after: ca.not_after.map(timestamp::format),
        certificate_pem: ca.certificate_pem,
        csr_pem: ca.csr_pem,
        crl_url: urls.crl,
        ocsp_url: urls.ocsp,
        created_at: timestamp::format(ca.created_at),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCaRequest {
    pub name: String,
    /// `root` or `intermediate`.
    pub kind: String,
    /// For an intermediate signed here. Leave out to get a CSR for an outside parent.
    pub parent_id: Option<String>,
    pub subject: Subject,
    /// `ECDSA` (default), `RSA` or `Ed25519`.
    pub key_algorithm: Option<String>,
    /// ECDSA: 256 (default) or 384; RSA: 2048, 3072 or 4096.
    pub key_size: Option<u32>,
    /// Default 3650.
    pub validity_days: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadCaCertificate {
    pub certificate_pem: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `der` (default) or `pem`.
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CrlQuery {
    /// `der` (default) or `pem`.
    pub format: Option<String>,
    /// `full` (default) or `delta`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

fn crl_kind(text: &str) -> Result<CrlKind> {
    CrlKind::parse(text)
        .ok_or_else(|| Error::bad_request("type", format!("'{text}' is not full or delta")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateCrl {
    /// `full` or `delta`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CrlView {
    pub ca_id: String,
    pub crl_number: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub base_crl_number: Option<i64>,
    pub this_update: String,
    pub next_update: String,
}

#[utoipa::path(get, path = "/api/v1/cas", tag = "cas", params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<CaView>)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<CaView>>> {
    state.require(&caller, Permission::CaRead).await?;
    let page = page
        .fetch(
            |offset, per_page| state.pki.list_cas(&caller, offset, per_page),
            |ca| view(&state, ca),
        )
        .await?;
    Ok(Json(page))
}

/// Create a root, an intermediate signed here, or an intermediate waiting for an outside parent.
#[utoipa::path(post, path = "/api/v1/cas", tag = "cas", request_body = CreateCaRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = CaView), (status = 400, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateCaRequest>,
) -> Result<(StatusCode, Json<CaView>)> {
    state.require(&caller, Permission::CaWrite).await?;
    let kind = CaKind::parse(&body.kind).ok_or_else(|| {
        Error::bad_request(
            "kind",
            format!("'{}' is not root or intermediate", body.kind),
        )
    })?;
    let key = KeyAlgorithm::parse(
        "key_algorithm",
        body.key_algorithm.as_deref().unwrap_or("ECDSA"),
        body.key_size,
    )?;
    let ca = state
        .pki
        .create_ca(
            &caller,
            CreateCa {
                name: body.name,
                kind,
                parent_id: body.parent_id,
                subject: body.subject,
                key,
                validity_days: body
                    .validity_days
                    .unwrap_or(crate::pki::DEFAULT_CA_VALIDITY_DAYS),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, ca))))
}

#[utoipa::path(get, path = "/api/v1/cas/{id}", tag = "cas", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CaView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CaView>> {
    state.require(&caller, Permission::CaRead).await?;
    let ca = state.pki.get_ca(&caller, &id).await?;
    Ok(Json(view(&state, ca)))
}

/// Stop a CA from signing. Its CRL and OCSP keep answering for what it issued.
#[utoipa::path(post, path = "/api/v1/cas/{id}/disable", tag = "cas", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CaView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CaView>> {
    state.require(&caller, Permission::CaAdmin).await?;
    let ca = state.pki.disable_ca(&caller, &id).await?;
    Ok(Json(view(&state, ca)))
}

/// The CA's certificate (public: the CA-issuers URL of issued certificates).
#[utoipa::path(get, path = "/api/v1/cas/{id}/certificate", tag = "cas", params(("id" = String, Path), FormatQuery),
    responses((status = 200, content_type = "application/pkix-cert", body = Vec<u8>), (status = 404, body = super::ErrorBody)))]
pub(super) async fn certificate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<FormatQuery>,
) -> Result<Response> {
    let der = state.pki.ca_certificate_der(&id).await?;
    der_or_pem(
        der,
        query.format.as_deref(),
        "CERTIFICATE",
        "application/pkix-cert",
    )
}

/// Complete an intermediate with the certificate its outside parent signed.
#[utoipa::path(post, path = "/api/v1/cas/{id}/certificate", tag = "cas", params(("id" = String, Path)),
    request_body = UploadCaCertificate, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CaView), (status = 400, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn upload_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UploadCaCertificate>,
) -> Result<Json<CaView>> {
    state.require(&caller, Permission::CaWrite).await?;
    let ca = state
        .pki
        .upload_ca_certificate(&caller, &id, &body.certificate_pem)
        .await?;
    Ok(Json(view(&state, ca)))
}

/// The CA's current CRL: DER (`application/pkix-crl`), or PEM with `?format=pem`
/// or `Accept: application/x-pem-file`; `?type=delta` for the delta CRL. Public.
#[utoipa::path(get, path = "/api/v1/ca/{id}/crl", tag = "cas", params(("id" = String, Path), CrlQuery),
    responses((status = 200, content_type = "application/pkix-crl", body = Vec<u8>), (status = 404, body = super::ErrorBody)))]
pub(super) async fn crl(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CrlQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response> {
    let wants_pem = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("pem"));
    let format = query.format.as_deref().or(wants_pem.then_some("pem"));
    let kind = crl_kind(query.kind.as_deref().unwrap_or("full"))?;
    let crl = state.pki.current_crl(&id, kind).await?;
    der_or_pem(crl.der, format, "X509 CRL", "application/pkix-crl")
}

/// Sign a new full or delta CRL now.
#[utoipa::path(post, path = "/api/v1/ca/{id}/crl/regenerate", tag = "cas", params(("id" = String, Path)),
    request_body = RegenerateCrl, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CrlView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn regenerate_crl(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RegenerateCrl>,
) -> Result<Json<CrlView>> {
    state.require(&caller, Permission::CaAdmin).await?;
    let kind = crl_kind(&body.kind)?;
    let ca = state.pki.get_ca(&caller, &id).await?;
    let crl = state.pki.regenerate_crl(&ca.id, kind).await?;
    Ok(Json(CrlView {
        ca_id: crl.ca_id,
        crl_number: crl.crl_number,
        kind: crl.kind.as_str().into(),
        base_crl_number: crl.base_crl_number,
        this_update: timestamp::format(crl.this_update),
        next_update: timestamp::format(crl.next_update),
    }))
}

pub(super) fn der_or_pem(
    der: Vec<u8>,
    format: Option<&str>,
    pem_label: &str,
    der_type: &'static str,
) -> Result<Response> {
    match format.unwrap_or("der") {
        "der" => Ok(([(header::CONTENT_TYPE, der_type)], Bytes::from(der)).into_response()),
        "pem" => Ok((
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            crate::pki::pem_encode(pem_label, &der),
        )
            .into_response()),
        other => Err(Error::bad_request(
            "format",
            format!("'{other}' is not der or pem"),
        )),
    }
}
