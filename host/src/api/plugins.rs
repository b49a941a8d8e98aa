//! `/api/v1/plugins`: what is loaded, with limits and call statistics.

use axum::extract::State;

use super::extract::Json;
use super::{AppState, Route};
use crate::Result;
use crate::auth::{Caller, Permission};
use crate::plugins::PluginStats;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::at("/api/v1/plugins").get(list)]
}

/// Loaded plugins: name, kind, version, limits, calls, errors by cause, latency percentiles (µs).
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "One entry per plugin", body = Vec<Object>),
              (status = 403, body = super::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PluginStats>>> {
    state.require(&caller, Permission::PluginsRead).await?;
    Ok(Json(state.plugins.snapshot()))
}
