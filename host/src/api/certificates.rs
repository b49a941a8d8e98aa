//! `/api/v1/certificates` (reference 001): requests, approval and the lifecycle.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::extract::{Json, OptionalJson, Path, Query};
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::model::{Certificate, CsrSourceMode, RevocationReason, SanSet, Subject};
use crate::pki::lifecycle::Transition;
use crate::pki::{CertificateQuery, KeyStorage, SubmitMode, SubmitRequest};
use crate::rotation::CustodyRequest;
use crate::{Error, Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/certificates/csr").post(submit),
        Route::at("/api/v1/certificates").get(list),
        Route::at("/api/v1/certificates/{id}")
            .get(get_one)
            .put(update),
        Route::at("/api/v1/certificates/{id}/status").get(status),
        Route::at("/api/v1/certificates/{id}/approve").post(approve),
        Route::at("/api/v1/certificates/{id}/reject").post(reject),
        Route::at("/api/v1/certificates/{id}/revoke").post(revoke),
        Route::at("/api/v1/certificates/{id}/unrevoke").post(unrevoke),
        Route::at("/api/v1/certificates/{id}/archive").post(archive),
        Route::at("/api/v1/certificates/{id}/restore").post(restore),
        Route::at("/api/v1/certificates/{id}/permanent").delete(permanent_delete),
    ]
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitCsr {
    pub template_id: String,
    pub project_id: Option<String>,
    /// Accepted for organization-scoped flows; must be the caller's organization.
    pub organization_id: Option<String>,
    /// `uploaded_csr`, or `server_generated` (alias `mazevault_generated`).
    /// `azure_key_vault_generated` is not available in this deployment.
    pub csr_source_mode: String,
    pub csr_pem: Option<String>,
    pub requested_cn: Option<String>,
    pub requested_san: Option<SanSet>,
    pub requested_subject: Option<Subject>,
    pub requested_key_algorithm: Option<String>,
    pub requested_key_size: Option<u32>,
    /// Server-generated keys: `local` (default; sealed here) or `external`
    /// (sent to the rotation target `key_integration_id` and not kept here).
    pub key_storage_mode: Option<String>,
    /// For `external`: the id of a rotation target (of any certificate in the
    /// project) whose type, settings and credentials receive the key.
    pub key_integration_id: Option<String>,
    /// For `external`: an existing secret (path, name or ARN) to write the key into.
    pub key_secret_path: Option<String>,
    /// For `external`: a new secret to create for the key.
    pub key_secret_name: Option<String>,
    /// For `external`: create the destination and fail if it exists (default: true
    /// with `key_secret_name`, false otherwise).
    pub create_new_secret: Option<bool>,
    // Accepted so that clients of the reference API work unchanged; it belongs to the
    // Azure key mode, which this deployment answers with a 422.
    #[allow(dead_code)]
    pub generation_reference: Option<String>,
    #[allow(dead_code)]
    pub agent_id: Option<String>,
    /// Default: the template's default validity.
    pub validity_days: Option<u32>,
}

/// The reference API's 201 body.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmittedView {
    pub id: String,
    pub common_name: String,
    /// `pending_approval` or, for automatic templates, `active`.
    pub status: String,
    pub serial_number: Option<String>,
    pub ca_id: Option<String>,
    pub project_id: String,
    pub requested_at: String,
    pub requested_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    pub id: String,
    pub common_name: String,
    pub serial_number: Option<String>,
    /// `pending_approval`, `active`, `expired`, `rejected`, `revoked` or `archived`.
    pub status: String,
    pub issuer_cn: Option<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub key_type: String,
    pub san: Vec<String>,
    pub project_id: String,
    pub ca_id: Option<String>,
    pub template_id: Option<String>,
    pub subject: Subject,
    pub requested_san: SanSet,
    pub key_storage_mode: String,
    pub fingerprint_sha256: Option<String>,
    pub requested_at: String,
    pub requested_by: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub rejection_reason: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
    pub revocation_reason: Option<String>,
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
    pub certificate_pem: Option<String>,
    /// `issued` (signed here from a request), `imported` or `mtls` (made by the mTLS API).
    pub source: String,
    /// Whether the private key is held here (generated or imported), so it can be exported.
    pub has_private_key: bool,
}

pub(super) fn view(certificate: Certificate) -> CertificateView {
    let status = certificate
        .visible_status(OffsetDateTime::now_utc())
        .to_owned();
    let has_private_key = certificate.sealed_key.is_some();
    let Certificate {
        id,
        project_id,
        source,
        ca_id,
        template_id,
        common_name,
        subject,
        san,
        key_type,
        key_storage,
        issued,
        requested_by,
        requested_at,
        decided_by,
        decided_at,
        rejection_reason,
        revocation,
        properties,
        ..
    } = certificate;
    let (revoked_at, revoked_by, revocation_reason) = match revocation {
        Some(r) => (
            Some(timestamp::format(r.revoked_at)),
            Some(r.revoked_by),
            Some(r.reason.as_str().to_owned()),
        ),
        None => (None, None, None),
    };
    CertificateView {
        id,
        common_name,
        serial_number: issued.as_ref().map(|i| i.serial_number.clone()),
        status,
        issuer_cn: issued.as_ref().and_then(|i| i.issuer_cn.clone()),
        not_before: issued.as_ref().map(|i| timestamp::format(i.not_before)),
        not_after: issued.as_ref().map(|i| timestamp::format(i.not_after)),
        key_type: key_type.label(),
        san: san.all(),
        project_id,
        ca_id,
        template_id,
        subject,
        requested_san: san,
        key_storage_mode: key_storage.as_str().into(),
        fingerprint_sha256: issued.as_ref().map(|i| i.fingerprint_sha256.clone()),
        requested_at: timestamp::format(requested_at),
        requested_by,
        decided_at: decided_at.map(timestamp::format),
        decided_by,
        rejection_reason,
        revoked_at,
        revoked_by,
        revocation_reason,
        properties: serde_json::Value::Object(properties),
        certificate_pem: issued.map(|i| crate::pki::pem_encode("CERTIFICATE", &i.der)),
        source: source.as_str().into(),
        has_private_key,
    }
}

const NOT_AVAILABLE: &str = "not available in this deployment";

/// Submit Certificate Signing Request
#[utoipa::path(post, path = "/api/v1/certificates/csr", tag = "certificates", request_body = SubmitCsr,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = SubmittedView), (status = 400, body = super::ErrorBody),
              (status = 422, description = "Outside the template: every violation listed", body = super::ErrorBody)))]
pub(super) async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<SubmitCsr>,
) -> Result<(StatusCode, Json<SubmittedView>)> {
    state
        .require(&caller, Permission::CertificateRequest)
        .await?;
    if let Some(org) = &body.organization_id
        && org != caller.organization_id()
    {
        return Err(Error::bad_request(
            "organization_id",
            "must be the caller's organization",
        ));
    }
    let csr_source = CsrSourceMode::parse_requested(&body.csr_source_mode);
    let generated = csr_source == Some(CsrSourceMode::ServerGenerated);
    let storage = match body.key_storage_mode.as_deref().unwrap_or("local") {
        "local" => KeyStorage::Local,
        "external" if generated => {
            // The key leaves for a rotation target: that is a push.
            state.require(&caller, Permission::RotationExecute).await?;
            KeyStorage::External(
                state
                    .rotation
                    .key_custody(
                        &caller,
                        CustodyRequest {
                            key_integration_id: body.key_integration_id.clone(),
                            key_secret_path: body.key_secret_path.clone(),
                            key_secret_name: body.key_secret_name.clone(),
                            create_new_secret: body.create_new_secret,
                        },
                    )
                    .await?,
            )
        }
        "external" => {
            return Err(Error::bad_request(
                "key_storage_mode",
                "external applies to keys generated here (server_generated / mazevault_generated)",
            ));
        }
        other => {
            return Err(Error::bad_request(
                "key_storage_mode",
                format!("'{other}' is not local or external"),
            ));
        }
    };
    let mode = match csr_source {
        Some(CsrSourceMode::UploadedCsr) => {
            let csr_pem = body
                .csr_pem
                .ok_or_else(|| Error::bad_request("csr_pem", "is required for uploaded_csr"))?;
            SubmitMode::UploadedCsr { csr_pem }
        }
        Some(CsrSourceMode::ServerGenerated) => SubmitMode::Generated {
            key_algorithm: body.requested_key_algorithm,
            key_size: body.requested_key_size,
            storage,
        },
        Some(CsrSourceMode::AzureKeyVaultGenerated) => {
            return Err(Error::Unprocessable(vec![format!(
                "csr_source_mode 'azure_key_vault_generated' is {NOT_AVAILABLE}"
            )]));
        }
        None => {
            return Err(Error::bad_request(
                "csr_source_mode",
                format!(
                    "'{}' is not uploaded_csr, server_generated (mazevault_generated) or azure_key_vault_generated",
                    body.csr_source_mode
                ),
            ));
        }
    };
    let certificate = state
        .pki
        .submit(
            &caller,
            SubmitRequest {
                template_id: body.template_id,
                project_id: body.project_id,
                mode,
                requested_cn: body.requested_cn,
                requested_subject: body.requested_subject,
                requested_san: body.requested_san,
                validity_days: body.validity_days,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SubmittedView {
            status: certificate.status.as_str().into(),
            serial_number: certificate.serial_number().map(str::to_owned),
            requested_at: timestamp::format(certificate.requested_at),
            id: certificate.id,
            common_name: certificate.common_name,
            ca_id: certificate.ca_id,
            project_id: certificate.project_id,
            requested_by: certificate.requested_by,
        }),
    ))
}

/// List certificates
#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates",
    params(CertificateQuery, PageQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<CertificateView>), (status = 400, body = super::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<CertificateQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<CertificateView>>> {
    state.require(&caller, Permission::CertificateRead).await?;
    let page = page
        .fetch(
            |offset, per_page| {
                state
                    .pki
                    .list_certificates(&caller, filter, offset, per_page)
            },
            view,
        )
        .await?;
    Ok(Json(page))
}

/// Get certificate details
#[utoipa::path(get, path = "/api/v1/certificates/{id}", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CertificateView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CertificateView>> {
    state.require(&caller, Permission::CertificateRead).await?;
    Ok(Json(view(state.pki.get_certificate(&caller, &id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProperties {
    pub tags: Option<Vec<String>>,
    pub description: Option<String>,
    /// Free-form labels.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Update certificate properties (tags, description, metadata)
#[utoipa::path(put, path = "/api/v1/certificates/{id}", tag = "certificates", params(("id" = String, Path)),
    request_body = UpdateProperties, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CertificateView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateProperties>,
) -> Result<Json<CertificateView>> {
    state.require(&caller, Permission::CertificateWrite).await?;
    let mut properties = state.pki.get_certificate(&caller, &id).await?.properties;
    if let Some(tags) = body.tags {
        if tags.len() > 64 || tags.iter().any(|t| t.is_empty() || t.len() > 64) {
            return Err(Error::bad_request(
                "tags",
                "at most 64 tags of 1 to 64 characters",
            ));
        }
        properties.insert("tags".into(), tags.into());
    }
    if let Some(description) = body.description {
        properties.insert("description".into(), description.into());
    }
    if let Some(metadata) = body.metadata {
        properties.insert("metadata".into(), metadata.into());
    }
    let certificate = state
        .pki
        .update_properties(&caller, &id, properties)
        .await?;
    Ok(Json(view(certificate)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    pub id: String,
    pub status: String,
    pub serial_number: Option<String>,
    pub revoked: bool,
    pub revocation_reason: Option<String>,
    pub revoked_at: Option<String>,
    pub not_after: Option<String>,
}

/// Get revocation status
#[utoipa::path(get, path = "/api/v1/certificates/{id}/status", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = StatusView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StatusView>> {
    state.require(&caller, Permission::CertificateRead).await?;
    let certificate = state.pki.get_certificate(&caller, &id).await?;
    let revocation = certificate.revocation.as_ref();
    Ok(Json(StatusView {
        status: certificate
            .visible_status(OffsetDateTime::now_utc())
            .to_owned(),
        serial_number: certificate.serial_number().map(str::to_owned),
        revoked: revocation.is_some(),
        revocation_reason: revocation.map(|r| r.reason.as_str().to_owned()),
        revoked_at: revocation.map(|r| timestamp::format(r.revoked_at)),
        not_after: certificate.not_after().map(timestamp::format),
        id: certificate.id,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    /// Why (kept with the certificate and in the audit log).
    pub comment: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// RFC 5280 reason name (`keyCompromise`, ...) or code (0-6). Default `unspecified`.
    pub reason: Option<serde_json::Value>,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedView {
    pub id: String,
    pub status: String,
    pub revocation_reason: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

/// The permission a lifecycle step needs.
fn permission_for(transition: &Transition) -> Permission {
    match transition {
        Transition::Approve | Transition::Reject => Permission::CertificateApprove,
        Transition::Revoke(_) | Transition::Unrevoke => Permission::CertificateRevoke,
        Transition::Archive | Transition::Restore => Permission::CertificateArchive,
        Transition::PermanentDelete => Permission::CertificatePermanentDelete,
    }
}

/// Applies `transition` and answers with the certificate as it is after it.
async fn transitioned(
    state: &AppState,
    caller: &Caller,
    id: &str,
    transition: Transition,
    comment: Option<String>,
) -> Result<Json<CertificateView>> {
    Ok(Json(view(
        apply(state, caller, id, transition, comment).await?,
    )))
}

async fn apply(
    state: &AppState,
    caller: &Caller,
    id: &str,
    transition: Transition,
    comment: Option<String>,
) -> Result<Certificate> {
    state.require(caller, permission_for(&transition)).await?;
    if comment.as_ref().is_some_and(|c| c.chars().count() > 1024) {
        return Err(Error::bad_request("comment", "at most 1024 characters"));
    }
    state
        .pki
        .transition(caller, id, transition, comment)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("transition removed the certificate")))
}

/// Approve pending CSR
#[utoipa::path(post, path = "/api/v1/certificates/{id}/approve", tag = "certificates", params(("id" = String, Path)),
    request_body(content = Option<Comment>), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CertificateView), (status = 403, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<Comment>,
) -> Result<Json<CertificateView>> {
    transitioned(&state, &caller, &id, Transition::Approve, body.comment).await
}

/// Reject pending CSR
#[utoipa::path(post, path = "/api/v1/certificates/{id}/reject", tag = "certificates", params(("id" = String, Path)),
    request_body(content = Option<Comment>), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CertificateView), (status = 409, body = super::ErrorBody)))]
pub(super) async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<Comment>,
) -> Result<Json<CertificateView>> {
    let comment = body.reason.or(body.comment);
    transitioned(&state, &caller, &id, Transition::Reject, comment).await
}

/// Revoke certificate
#[utoipa::path(post, path = "/api/v1/certificates/{id}/revoke", tag = "certificates", params(("id" = String, Path)),
    request_body = RevokeBody, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = RevokedView), (status = 400, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RevokeBody>,
) -> Result<Json<RevokedView>> {
    let reason = match &body.reason {
        None => RevocationReason::Unspecified,
        Some(value) => {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            RevocationReason::parse(&text).ok_or_else(|| {
                Error::bad_request(
                    "reason",
                    format!(
                        "must be one of {} (or 0-6)",
                        RevocationReason::NAMES.join(", ")
                    ),
                )
            })?
        }
    };
    let certificate = apply(
        &state,
        &caller,
        &id,
        Transition::Revoke(reason),
        body.comment,
    )
    .await?;
    let revocation = certificate.revocation.as_ref();
    Ok(Json(RevokedView {
        status: certificate.status.as_str().into(),
        revocation_reason: revocation.map(|r| r.reason.as_str().to_owned()),
        revoked_at: revocation.map(|r| timestamp::format(r.revoked_at)),
        revoked_by: revocation.map(|r| r.revoked_by.clone()),
        id: certificate.id,
    }))
}

/// Unrevoke certificate (only from certificateHold)
#[utoipa::path(post, path = "/api/v1/certificates/{id}/unrevoke", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CertificateView), (status = 409, body = super::ErrorBody)))]
pub(super) async fn unrevoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CertificateView>> {
    transitioned(&state, &caller, &id, Transition::Unrevoke, None).await
}

/// Archive certificate
#[utoipa::path(post, path = "/api/v1/certificates/{id}/archive", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CertificateView), (status = 409, body = super::ErrorBody)))]
pub(super) async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CertificateView>> {
    transitioned(&state, &caller, &id, Transition::Archive, None).await
}

/// Restore archived certificate
#[utoipa::path(post, path = "/api/v1/certificates/{id}/restore", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CertificateView), (status = 409, body = super::ErrorBody)))]
pub(super) async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CertificateView>> {
    transitioned(&state, &caller, &id, Transition::Restore, None).await
}

/// Permanently delete certificate (archived or rejected ones)
#[utoipa::path(delete, path = "/api/v1/certificates/{id}/permanent", tag = "certificates", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(super) async fn permanent_delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let transition = Transition::PermanentDelete;
    state.require(&caller, permission_for(&transition)).await?;
    state.pki.transition(&caller, &id, transition, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
