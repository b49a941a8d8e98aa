//! `/api/v1/ocsp/{ca_id}`: the OCSP responder (RFC 6960), POST and GET. Public.
//! Answers speak OCSP: a request that does not parse gets a 400 whose body is the
//! OCSP `malformedRequest` response.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::extract::Path;
use super::{AppState, Route};
use crate::Result;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/ocsp/{ca_id}").post(ocsp_post),
        Route::at("/api/v1/ocsp/{ca_id}/{*request}").get(ocsp_get),
    ]
}

async fn answer(state: &AppState, ca_id: &str, request: &[u8]) -> Result<Response> {
    let answer = state.pki.ocsp(ca_id, request).await?;
    let status = if answer.malformed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/ocsp-response")],
        answer.der,
    )
        .into_response())
}

/// OCSP request in the body (`application/ocsp-request`).
#[utoipa::path(post, path = "/api/v1/ocsp/{ca_id}", tag = "cas", params(("ca_id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/ocsp-request"),
    responses((status = 200, content_type = "application/ocsp-response", body = Vec<u8>),
              (status = 400, content_type = "application/ocsp-response", description = "malformedRequest"),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn ocsp_post(
    State(state): State<AppState>,
    Path(ca_id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    answer(&state, &ca_id, &body).await
}

/// OCSP request as base64 DER in the path (RFC 6960 appendix A.1).
#[utoipa::path(get, path = "/api/v1/ocsp/{ca_id}/{request}", tag = "cas",
    params(("ca_id" = String, Path), ("request" = String, Path, description = "base64 (URL-encoded) DER OCSP request")),
    responses((status = 200, content_type = "application/ocsp-response", body = Vec<u8>),
              (status = 400, content_type = "application/ocsp-response", description = "malformedRequest"),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn ocsp_get(
    State(state): State<AppState>,
    Path((ca_id, request)): Path<(String, String)>,
) -> Result<Response> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(request.trim_start_matches('/'))
        .unwrap_or_default();
    answer(&state, &ca_id, &der).await
}
