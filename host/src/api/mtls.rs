//! mTLS certificates at `/api/certificates/mtls` (reference 000), camelCase JSON. The
//! certificates are the same objects `/api/v1/certificates` lists, with `source` = `mtls`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::certificate_io::export_file;
use super::extract::{Json, Path, Query};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::crypto::SecretString;
use crate::model::{Certificate, KeyAlgorithm};
use crate::pki::export::{ExportFormat, ExportRequest};
use crate::pki::mtls::{MtlsRequest, expiry_flags};
use crate::{Error, Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/certificates/mtls").get(list),
        Route::at("/api/certificates/mtls/generate").post(generate),
        Route::at("/api/certificates/mtls/{id}")
            .get(get_one)
            .delete(delete),
        Route::at("/api/certificates/mtls/{id}/download").get(download),
        Route::at("/api/certificates/mtls/{id}/renew").post(renew),
    ]
}

/// An mTLS certificate. The private key is only returned by an explicit download.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MtlsCertificateView {
    #[schema(example = "3fa85f64-5717-4562-b3fc-2c963f66afa6")]
    pub id: String,
    /// Common name / domain.
    #[schema(example = "api.example.com")]
    pub domain: String,
    #[schema(example = "Acme Inc")]
    pub organization: Option<String>,
    #[schema(example = "US")]
    pub country: Option<String>,
    /// RSA modulus length in bits.
    #[schema(example = 4096)]
    pub key_size: Option<u32>,
    pub validity_days: i64,
    pub expires_at: Option<String>,
    pub expired: bool,
    /// Ends within 30 days.
    pub expiring_soon: bool,
    pub tags: Vec<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    pub serial_number: Option<String>,
    pub fingerprint_sha256: Option<String>,
    /// The project's mTLS CA, which signed it (`/api/v1/cas/{caId}/certificate`).
    pub ca_id: Option<String>,
    /// The project (account).
    pub project_id: String,
    pub created_at: String,
    /// The certificate this one renewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewed_from: Option<String>,
}

impl From<Certificate> for MtlsCertificateView {
    fn from(certificate: Certificate) -> Self {
        let status = certificate
            .visible_status(OffsetDateTime::now_utc())
            .to_owned();
        let tags = certificate
            .properties
            .get("tags")
            .and_then(|tags| tags.as_array())
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let (expired, expiring_soon) = expiry_flags(certificate.not_after());
        let key_size = match certificate.key_type.algorithm() {
            Some(KeyAlgorithm::Rsa(bits)) => Some(bits),
            _ => None,
        };
        Self {
            status,
            serial_number: certificate.serial_number().map(str::to_owned),
            fingerprint_sha256: certificate.fingerprint_sha256().map(str::to_owned),
            expires_at: certificate.not_after().map(timestamp::format),
            created_at: timestamp::format(certificate.created_at),
            domain: certificate.common_name,
            organization: certificate.subject.organization,
            country: certificate.subject.country,
            key_size,
            validity_days: i64::from(certificate.validity_days),
            expired,
            expiring_soon,
            tags,
            id: certificate.id,
            ca_id: certificate.ca_id,
            project_id: certificate.project_id,
            renewed_from: certificate.renewed_from,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// The project (account). Default: the key's own project for a project-scoped API
    /// key, else the organization's `default` project.
    pub project_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GenerateBody {
    /// Common name / domain (e.g. api.example.com); also the DNS or IP SAN when it is one.
    #[schema(example = "api.example.com")]
    pub domain: String,
    /// Organization (O).
    #[schema(example = "Acme Inc")]
    pub organization: Option<String>,
    /// Two-letter ISO country code (C).
    #[schema(example = "US")]
    pub country: Option<String>,
    /// RSA key size: 2048, 3072 or 4096 (default 4096).
    #[schema(example = 4096)]
    pub key_size: Option<u32>,
    /// Validity in days, 1 to 3650 (default 365).
    #[schema(example = 365)]
    pub validity_days: Option<u32>,
    pub tags: Option<Vec<String>>,
    /// The project (account); see `GET /api/certificates/mtls`.
    pub project_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// `pem` (default, the certificate), `key` (the private key, PKCS #8 PEM), `der` or
    /// `p12` (key, certificate and CA, password-protected).
    pub format: Option<String>,
    /// Required when `format=p12`.
    #[param(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

/// List mTLS certificates
///
/// All mTLS certificates of one project (account), newest first.
#[utoipa::path(get, path = "/api/certificates/mtls", tag = "mtls", params(AccountQuery),
    security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = [MtlsCertificateView]), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AccountQuery>,
) -> Result<Json<Vec<MtlsCertificateView>>> {
    state.require(&caller, Permission::CertificateRead).await?;
    let certificates = state
        .pki
        .mtls_list(&caller, query.project_id.as_deref())
        .await?;
    Ok(Json(certificates.into_iter().map(Into::into).collect()))
}

/// Generate an mTLS certificate
///
/// A new RSA key and an X.509 certificate for client and server authentication, signed
/// by the project's mTLS CA (created on first use). The private key is encrypted at rest
/// and only returned on explicit download.
#[utoipa::path(post, path = "/api/certificates/mtls/generate", tag = "mtls",
    request_body = GenerateBody, security(("api_key" = []), ("bearer" = [])),
    responses((status = 201, body = MtlsCertificateView), (status = 400, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn generate(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<GenerateBody>,
) -> Result<(StatusCode, Json<MtlsCertificateView>)> {
    state.require(&caller, Permission::CertificateWrite).await?;
    let certificate = state
        .pki
        .mtls_generate(
            &caller,
            MtlsRequest {
                project_id: body.project_id,
                domain: body.domain,
                organization: body.organization,
                country: body.country,
                key_size: body.key_size,
                validity_days: body.validity_days,
                tags: body.tags,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(certificate.into())))
}

/// Get an mTLS certificate
#[utoipa::path(get, path = "/api/certificates/mtls/{id}", tag = "mtls",
    params(("id" = String, Path)), security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, body = MtlsCertificateView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MtlsCertificateView>> {
    state.require(&caller, Permission::CertificateRead).await?;
    Ok(Json(state.pki.mtls_get(&caller, &id).await?.into()))
}

/// Download an mTLS certificate
///
/// The certificate as PEM (default) or DER, the private key as PKCS #8 PEM (`key`), or
/// a PKCS #12 bundle of key, certificate and CA (`p12`, with `password`; AES-256-CBC,
/// PBKDF2-SHA256, SHA-256 MAC). Key and PKCS #12 downloads are high-severity audit events.
#[utoipa::path(get, path = "/api/certificates/mtls/{id}/download", tag = "mtls",
    params(("id" = String, Path), DownloadQuery), security(("api_key" = []), ("bearer" = [])),
    responses((status = 200, description = "The file",
               content((String = "application/x-pem-file"), (String = "application/pkix-cert"),
                       (String = "application/x-pkcs12"))),
              (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(super) async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response> {
    state.require(&caller, Permission::CertificateRead).await?;
    let (format, include_key, include_chain) = match query.format.as_deref().unwrap_or("pem") {
        "pem" => (ExportFormat::Pem, false, false),
        "key" => (ExportFormat::KeyPem, true, false),
        "der" => (ExportFormat::Der, false, false),
        "p12" | "pkcs12" => (ExportFormat::Pkcs12, true, true),
        other => {
            return Err(Error::bad_request(
                "format",
                format!("'{other}' is not pem, key, der or p12"),
            ));
        }
    };
    if format == ExportFormat::Pkcs12 && query.password.is_none() {
        return Err(Error::bad_request(
            "password",
            "is required when format=p12",
        ));
    }
    let certificate = state.pki.mtls_get(&caller, &id).await?;
    let request = ExportRequest {
        format,
        include_chain,
        include_key,
        password: query.password.as_ref().map(SecretString::expose),
        via: "mtls_download",
    };
    export_file(&state, &caller, &certificate, request).await
}

/// Renew an mTLS certificate
///
/// A new certificate (new id, new key) with the same domain and settings; the old one is
/// revoked as superseded and removed with its key.
#[utoipa::path(post, path = "/api/certificates/mtls/{id}/renew", tag = "mtls",
    params(("id" = String, Path)), security(("api_key" = []), ("bearer" = [])),
    responses((status = 201, body = MtlsCertificateView), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<MtlsCertificateView>)> {
    state.require(&caller, Permission::CertificateWrite).await?;
    let certificate = state.pki.mtls_renew(&caller, &id).await?;
    Ok((StatusCode::CREATED, Json(certificate.into())))
}

/// Delete an mTLS certificate
///
/// Deletes the certificate and its private key. It is revoked first
/// (cessationOfOperation), so that copies of it stop being trusted; its record stays
/// archived in `/api/v1/certificates` for the CRL and the audit trail.
#[utoipa::path(delete, path = "/api/certificates/mtls/{id}", tag = "mtls",
    params(("id" = String, Path)), security(("api_key" = []), ("bearer" = [])),
    responses((status = 204), (status = 403, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state
        .require(&caller, Permission::CertificateRevoke)
        .await?;
    state.pki.mtls_delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
