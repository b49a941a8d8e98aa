//! `/api/v1/certificates` export and import (reference 001): export as PEM, DER or
//! PKCS #12; import one certificate, a PEM bundle or an uploaded file; preview an import.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::certificates::{CertificateView, view};
use super::extract::{Json, Path, Query};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::crypto::{SecretBytes, SecretString};
use crate::model::Certificate;
use crate::pki::export::{ExportFormat, ExportRequest, Exported};
use crate::pki::import::{ImportInput, ImportReport};
use crate::{Error, Result};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/certificates/{id}/export").get(export),
        Route::at("/api/v1/certificates/import").post(import),
        Route::at("/api/v1/certificates/import/bulk").post(import_bulk),
        Route::at("/api/v1/certificates/import/file").post(import_file),
        Route::at("/api/v1/certificates/import/preview").post(import_preview),
    ]
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `pem` (default), `der` or `pkcs12`.
    pub format: Option<String>,
    /// Include the CA chain (default true). DER holds the certificate alone.
    pub include_chain: Option<bool>,
    /// Include the private key (default false); only for keys held here.
    pub include_key: Option<bool>,
    /// The PKCS #12 password (required for `pkcs12`).
    #[param(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

/// A downloadable file: its type, a file name, and no caching.
/// Exports `certificate` as `request` asks and answers with the file.
pub(super) async fn export_file(
    state: &AppState,
    caller: &Caller,
    certificate: &Certificate,
    request: ExportRequest<'_>,
) -> Result<Response> {
    let exported = state.pki.export(caller, certificate, request).await?;
    Ok(file_response(exported))
}

fn file_response(exported: Exported) -> Response {
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", exported.file_name))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    // The response takes its own copy; the exported one is wiped when dropped here.
    let mut response = exported.body.expose().to_vec().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(exported.content_type),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Export certificate
///
/// PEM (certificate, then the chain and the private key when asked), DER (the certificate
/// alone) or PKCS #12 (AES-256-CBC with PBKDF2-SHA256 and a SHA-256 MAC, as OpenSSL 3
/// writes it). Only a private key held here (generated or imported) can be included;
/// such an export is a high-severity audit event.
#[utoipa::path(get, path = "/api/v1/certificates/{id}/export", tag = "certificates",
    params(("id" = String, Path), ExportQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The file",
               content((String = "application/x-pem-file"), (String = "application/pkix-cert"),
                       (String = "application/x-pkcs12"))),
              (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
              (status = 409, description = "Not issued, or its key is not held here", body = super::ErrorBody)))]
pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ExportQuery>,
) -> Result<Response> {
    state.require(&caller, Permission::CertificateRead).await?;
    let format = match query.format.as_deref().unwrap_or("pem") {
        "pem" => ExportFormat::Pem,
        "der" => ExportFormat::Der,
        "pkcs12" | "p12" | "pfx" => ExportFormat::Pkcs12,
        other => {
            return Err(Error::bad_request(
                "format",
                format!("'{other}' is not pem, der or pkcs12"),
            ));
        }
    };
    if query.password.is_some() && format != ExportFormat::Pkcs12 {
        return Err(Error::bad_request(
            "password",
            "is only used by the pkcs12 format",
        ));
    }
    let certificate = state.pki.get_certificate(&caller, &id).await?;
    let request = ExportRequest {
        format,
        include_chain: query.include_chain.unwrap_or(true),
        include_key: query.include_key.unwrap_or(false),
        password: query.password.as_ref().map(SecretString::expose),
        via: "export",
    };
    export_file(&state, &caller, &certificate, request).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// PEM certificate. Further certificates after it are taken as its chain.
    pub certificate_pem: String,
    /// PEM private key (PKCS #8, PKCS #1 or SEC 1, unencrypted); must belong to the certificate.
    #[schema(value_type = Option<String>)]
    pub private_key_pem: Option<SecretString>,
    /// PEM CA chain, issuer first; each must have issued the one before it.
    pub chain_pem: Option<String>,
    /// Target project (required unless the API key is limited to one project).
    pub project_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkImportBody {
    /// PEM text with up to 500 certificates; private keys in it join their certificate.
    #[schema(value_type = String)]
    pub pem_bundle: SecretString,
    pub project_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// As in a single import (give this or `pem_bundle`).
    pub certificate_pem: Option<String>,
    #[schema(value_type = Option<String>)]
    pub private_key_pem: Option<SecretString>,
    pub chain_pem: Option<String>,
    /// As in a bulk import.
    #[schema(value_type = Option<String>)]
    pub pem_bundle: Option<SecretString>,
    /// With a project, duplicates are reported.
    pub project_id: Option<String>,
}

/// The multipart form of a file import.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct FileUpload {
    /// The file: PEM, DER certificate, or PKCS #12 (.p12/.pfx).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// Required for PKCS #12.
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
    pub project_id: Option<String>,
    /// `pem`, `der` or `pkcs12`; recognised from the content when absent.
    pub format: Option<String>,
}

/// Import certificate
///
/// One certificate with, optionally, its private key (which must belong to it) and its
/// chain. It is listed like any other certificate, with `source` = `imported` and its
/// status from its dates; a key is sealed at rest like a generated one. A certificate the
/// project holds already (same SHA-256 fingerprint) is a 409.
#[utoipa::path(post, path = "/api/v1/certificates/import", tag = "certificates",
    request_body = ImportBody, security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = CertificateView), (status = 400, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ImportBody>,
) -> Result<(StatusCode, Json<CertificateView>)> {
    state
        .require(&caller, Permission::CertificateImport)
        .await?;
    let certificate = state
        .pki
        .import_single(
            &caller,
            body.project_id,
            ImportInput::Single {
                certificate_pem: body.certificate_pem,
                private_key_pem: body.private_key_pem,
                chain_pem: body.chain_pem,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(certificate))))
}

/// Bulk import (PEM bundle)
///
/// Every certificate of the bundle, each with its own result: `imported`, `duplicate`
/// (the project holds it already; not imported again) or `failed` with the reason. More
/// than 500 certificates is a 413 and imports nothing; a bundle of which nothing could be
/// imported is a 422 listing why.
#[utoipa::path(post, path = "/api/v1/certificates/import/bulk", tag = "certificates",
    request_body = BulkImportBody, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ImportReport), (status = 400, body = super::ErrorBody),
              (status = 413, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub(super) async fn import_bulk(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<BulkImportBody>,
) -> Result<Json<ImportReport>> {
    state
        .require(&caller, Permission::CertificateImport)
        .await?;
    let report = state
        .pki
        .import_many(
            &caller,
            body.project_id,
            ImportInput::Bundle {
                pem_bundle: body.pem_bundle,
            },
            false,
        )
        .await?;
    Ok(Json(report))
}

/// Import from file upload
///
/// A multipart form with `file` (PEM, DER or PKCS #12) and, for PKCS #12, `password`.
/// Results are reported per entry as in a bulk import. A wrong password is a 400 naming
/// `password`; a file that is none of these formats is a 400.
#[utoipa::path(post, path = "/api/v1/certificates/import/file", tag = "certificates",
    request_body(content = FileUpload, content_type = "multipart/form-data"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ImportReport), (status = 400, body = super::ErrorBody),
              (status = 413, body = super::ErrorBody), (status = 415, body = super::ErrorBody),
              (status = 422, body = super::ErrorBody)))]
pub(super) async fn import_file(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Json<ImportReport>> {
    import_read(&state, &caller, read_upload(request, &state), false).await
}

/// Preview import before committing
///
/// Parses and reports exactly what an import of the same input would do, and writes
/// nothing: a JSON body as for a single (`certificate_pem`) or bulk (`pem_bundle`) import,
/// or a multipart file upload. Entries that would be imported have status `new`.
#[utoipa::path(post, path = "/api/v1/certificates/import/preview", tag = "certificates",
    request_body(content((PreviewBody = "application/json"), (FileUpload = "multipart/form-data"))),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ImportReport), (status = 400, body = super::ErrorBody),
              (status = 413, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub(super) async fn import_preview(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Json<ImportReport>> {
    import_read(&state, &caller, read_preview(request, &state), true).await
}

/// Checks that the caller may import, then reads the input (`read` runs only then, so an
/// unauthorized body is never parsed) and imports it, or with `dry_run` reports only.
async fn import_read(
    state: &AppState,
    caller: &Caller,
    read: impl Future<Output = Result<(Option<String>, ImportInput)>>,
    dry_run: bool,
) -> Result<Json<ImportReport>> {
    state.require(caller, Permission::CertificateImport).await?;
    let (project_id, input) = read.await?;
    let report = state
        .pki
        .import_many(caller, project_id, input, dry_run)
        .await?;
    Ok(Json(report))
}

/// A preview's input: a file upload, or a JSON body as for a single or bulk import.
async fn read_preview(request: Request, state: &AppState) -> Result<(Option<String>, ImportInput)> {
    if is_multipart(&request) {
        return read_upload(request, state).await;
    }
    let Json(body) = Json::<PreviewBody>::from_request(request, state).await?;
    let input = match (body.certificate_pem, body.pem_bundle) {
        (Some(certificate_pem), None) => ImportInput::Single {
            certificate_pem,
            private_key_pem: body.private_key_pem,
            chain_pem: body.chain_pem,
        },
        (None, Some(pem_bundle)) => ImportInput::Bundle { pem_bundle },
        _ => {
            return Err(Error::bad_request(
                "certificate_pem",
                "give either certificate_pem or pem_bundle",
            ));
        }
    };
    Ok((body.project_id, input))
}

fn is_multipart(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Reads the multipart form of a file import: `file`, `password`, `project_id`, `format`.
async fn read_upload(request: Request, state: &AppState) -> Result<(Option<String>, ImportInput)> {
    if !is_multipart(&request) {
        return Err(Error::UnsupportedMediaType(
            "expected a body with Content-Type: multipart/form-data".into(),
        ));
    }
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|err| Error::BadRequest {
            field: None,
            message: format!("invalid multipart body: {}", err.body_text()),
        })?;
    let mut file = None;
    let mut password = None;
    let mut project_id = None;
    let mut format = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some(SecretBytes::from(bytes.to_vec()));
            }
            "password" => password = Some(field.text().await.map_err(multipart_error)?.into()),
            "project_id" => project_id = Some(field.text().await.map_err(multipart_error)?),
            "format" => format = Some(field.text().await.map_err(multipart_error)?),
            _ => {
                return Err(Error::bad_request(
                    name,
                    "unknown form field; expected file, password, project_id or format",
                ));
            }
        }
    }
    let bytes = file
        .filter(|bytes| !bytes.expose().is_empty())
        .ok_or_else(|| Error::bad_request("file", "is required (a non-empty file part)"))?;
    Ok((
        project_id.filter(|p| !p.is_empty()),
        ImportInput::File {
            bytes,
            password,
            format,
        },
    ))
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> Error {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge(
            "request body is larger than this server accepts (max_body_bytes)".into(),
        )
    } else {
        Error::BadRequest {
            field: None,
            message: format!("invalid multipart body: {}", err.body_text()),
        }
    }
}
