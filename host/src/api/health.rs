//! Liveness, readiness and metrics: public, no credentials needed.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Json;
use super::{AppState, Route};
use crate::Error;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/healthz").get(healthz),
        Route::at("/readyz").get(readyz),
        Route::at("/metrics").get(metrics),
    ]
}

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Answers 200 once the server is serving.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = HealthStatus)))]
pub(super) async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok" })
}

/// Answers 200 when the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = HealthStatus), (status = 503, body = super::ErrorBody)))]
pub(super) async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    match state.store.ping().await {
        Ok(()) => Json(HealthStatus { status: "ok" }).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            let mut response = Error::internal(err).into_response();
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response
        }
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "application/openmetrics-text", body = String)))]
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics.render();
    text.push_str(&state.plugins.render_prometheus());
    text.push_str("# EOF\n");
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}
