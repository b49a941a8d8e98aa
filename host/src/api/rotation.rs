//! Rotation at the reference API's paths: a certificate's rotation config,
//! trigger and history, and its rotation targets.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Json, Path, Query};
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::model::{RotationConfig, RotationRun, RotationTarget};
use crate::rotation::{ConfigInput, TargetInput};
use crate::{Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/v1/certificates/{id}/rotation/config")
            .get(get_config)
            .put(put_config),
        Route::at("/api/v1/certificates/{id}/rotation/trigger").post(trigger),
        Route::at("/api/v1/certificates/{id}/rotation/history").get(history),
        Route::at("/api/v1/certificates/{id}/targets")
            .get(list_targets)
            .post(create_target),
        Route::at("/api/v1/certificates/{id}/targets/{target_id}")
            .get(get_target)
            .put(update_target)
            .delete(delete_target),
        Route::at("/api/v1/certificates/{id}/targets/{target_id}/sync").post(sync),
    ]
}

/// A certificate's rotation config.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigView {
    pub certificate_id: String,
    /// Off: renewals and the schedule push nothing (a manual trigger still does).
    pub enabled: bool,
    /// `on_renewal`, `before_expiry` or `schedule`.
    pub trigger: String,
    /// `before_expiry`: renew this many days before the certificate expires.
    pub days_before_expiry: Option<u32>,
    /// `schedule`: push again this often.
    pub interval_hours: Option<u32>,
    /// Send the private key along (only for keys generated and kept here).
    pub include_private_key: bool,
    /// When the background job next looks at this certificate.
    pub next_run_at: Option<String>,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

impl From<RotationConfig> for ConfigView {
    fn from(config: RotationConfig) -> Self {
        Self {
            certificate_id: config.certificate_id,
            enabled: config.enabled,
            trigger: config.trigger.as_str().to_owned(),
            days_before_expiry: config.days_before_expiry,
            interval_hours: config.interval_hours,
            include_private_key: config.include_private_key,
            next_run_at: config.next_run_at.map(timestamp::format),
            updated_by: config.updated_by,
            updated_at: config.updated_at.map(timestamp::format),
        }
    }
}

/// A rotation target. Its credentials are never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    pub id: String,
    pub certificate_id: String,
    pub name: String,
    /// The rotation-target plugin.
    #[serde(rename = "type")]
    pub target_type: String,
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Whether credentials are stored (they are never returned).
    pub has_credentials: bool,
    /// True for the target that holds the certificate's externally stored key.
    pub key_custody: bool,
    /// `succeeded` or `failed`: how the last push ended.
    pub last_status: Option<String>,
    pub last_synced_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<RotationTarget> for TargetView {
    fn from(target: RotationTarget) -> Self {
        Self {
            config: serde_json::Value::Object(target.config),
            has_credentials: target.sealed_credentials.is_some(),
            id: target.id,
            certificate_id: target.certificate_id,
            name: target.name,
            target_type: target.target_type,
            enabled: target.enabled,
            key_custody: target.key_custody,
            last_status: target.last_status.map(|s| s.as_str().to_owned()),
            last_synced_at: target.last_synced_at.map(timestamp::format),
            last_error: target.last_error,
            created_at: timestamp::format(target.created_at),
            updated_at: timestamp::format(target.updated_at),
        }
    }
}

/// One push to one target.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    /// The certificate pushed.
    pub certificate_id: String,
    pub serial_number: Option<String>,
    /// The certificate's place in its renewal chain, from 1.
    pub version: i64,
    pub target_id: String,
    pub target_name: String,
    pub target_type: String,
    /// `manual`, `sync`, `renewal`, `issued`, `schedule`, `before_expiry`,
    /// `retry` or `key_deposit`.
    pub reason: String,
    /// `pending`, `running`, `succeeded`, `failed` or `superseded`.
    pub status: String,
    /// 1 for the first attempt; retries count up.
    pub attempt: i64,
    pub private_key_included: bool,
    /// When a pending push is due.
    pub next_attempt_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where the bundle went (a path, a secret's URL or ARN).
    pub location: Option<String>,
    /// The destination's version id, when it has one.
    pub destination_version: Option<String>,
    pub requested_by: String,
    pub created_at: String,
}

impl From<RotationRun> for RunView {
    fn from(run: RotationRun) -> Self {
        Self {
            id: run.id,
            certificate_id: run.certificate_id,
            serial_number: run.serial_number,
            version: i64::from(run.version),
            target_id: run.target_id,
            target_name: run.target_name,
            target_type: run.target_type,
            reason: run.reason.as_str().to_owned(),
            status: run.status.as_str().to_owned(),
            attempt: i64::from(run.attempt),
            private_key_included: run.include_private_key,
            next_attempt_at: timestamp::format(run.next_attempt_at),
            started_at: run.progress.started_at.map(timestamp::format),
            finished_at: run.progress.finished_at.map(timestamp::format),
            duration_ms: run
                .progress
                .duration_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
            error: run.progress.error,
            location: run.progress.location,
            destination_version: run.progress.destination_version,
            requested_by: run.requested_by,
            created_at: timestamp::format(run.created_at),
        }
    }
}

/// What a trigger queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerView {
    pub certificate_id: String,
    /// One pending push per enabled target; follow them in the history.
    pub queued: Vec<RunView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only this target's pushes.
    pub target_id: Option<String>,
    /// `pending`, `running`, `succeeded`, `failed` or `superseded`.
    pub status: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

type Ids = Path<(String, String)>;

/// Get rotation config
#[utoipa::path(get, path = "/api/v1/certificates/{id}/rotation/config", tag = "rotation",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ConfigView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_config(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConfigView>> {
    state.require(&caller, Permission::CertificateRead).await?;
    Ok(Json(state.rotation.get_config(&caller, &id).await?.into()))
}

/// Update rotation config: when pushes happen and whether the private key goes along
#[utoipa::path(put, path = "/api/v1/certificates/{id}/rotation/config", tag = "rotation",
    params(("id" = String, Path)), request_body = ConfigInput, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ConfigView), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub(super) async fn put_config(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ConfigInput>,
) -> Result<Json<ConfigView>> {
    state.require(&caller, Permission::RotationWrite).await?;
    Ok(Json(
        state
            .rotation
            .update_config(&caller, &id, body)
            .await?
            .into(),
    ))
}

/// Trigger rotation: queue a push of the certificate to every enabled target
#[utoipa::path(post, path = "/api/v1/certificates/{id}/rotation/trigger", tag = "rotation",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = TriggerView), (status = 404, body = super::ErrorBody),
              (status = 409, description = "Not active, or no enabled target", body = super::ErrorBody)))]
pub(super) async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TriggerView>)> {
    state.require(&caller, Permission::RotationExecute).await?;
    let runs = state.rotation.trigger(&caller, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TriggerView {
            certificate_id: id,
            queued: runs.into_iter().map(RunView::from).collect(),
        }),
    ))
}

/// Rotation execution history: every push of the certificate and to its targets, newest first
#[utoipa::path(get, path = "/api/v1/certificates/{id}/rotation/history", tag = "rotation",
    params(("id" = String, Path), HistoryQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<RunView>), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Page<RunView>>> {
    state.require(&caller, Permission::CertificateRead).await?;
    let page = PageQuery::new(query.page, query.per_page)
        .fetch(
            |offset, per_page| {
                state.rotation.history(
                    &caller,
                    &id,
                    query.target_id.as_deref(),
                    query.status.as_deref(),
                    offset,
                    per_page,
                )
            },
            RunView::from,
        )
        .await?;
    Ok(Json(page))
}

/// List rotation targets
#[utoipa::path(get, path = "/api/v1/certificates/{id}/targets", tag = "rotation",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<TargetView>), (status = 404, body = super::ErrorBody)))]
pub(super) async fn list_targets(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<TargetView>>> {
    state.require(&caller, Permission::CertificateRead).await?;
    let targets = state.rotation.list_targets(&caller, &id).await?;
    Ok(Json(targets.into_iter().map(TargetView::from).collect()))
}

/// Create rotation target: the plugin checks the settings and credentials first
#[utoipa::path(post, path = "/api/v1/certificates/{id}/targets", tag = "rotation",
    params(("id" = String, Path)), request_body = TargetInput, security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = TargetView), (status = 400, description = "Unknown type, bad field", body = super::ErrorBody),
              (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody),
              (status = 422, description = "The plugin rejected the settings or credentials", body = super::ErrorBody)))]
pub(super) async fn create_target(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<TargetInput>,
) -> Result<(StatusCode, Json<TargetView>)> {
    state.require(&caller, Permission::RotationWrite).await?;
    let target = state.rotation.create_target(&caller, &id, body).await?;
    Ok((StatusCode::CREATED, Json(target.into())))
}

/// Get target details
#[utoipa::path(get, path = "/api/v1/certificates/{id}/targets/{target_id}", tag = "rotation",
    params(("id" = String, Path), ("target_id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TargetView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_target(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, target_id)): Ids,
) -> Result<Json<TargetView>> {
    state.require(&caller, Permission::CertificateRead).await?;
    Ok(Json(
        state
            .rotation
            .get_target(&caller, &id, &target_id)
            .await?
            .into(),
    ))
}

/// Update target: absent fields keep their value; `credentials` replaces the stored ones
#[utoipa::path(put, path = "/api/v1/certificates/{id}/targets/{target_id}", tag = "rotation",
    params(("id" = String, Path), ("target_id" = String, Path)), request_body = TargetInput,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TargetView), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody),
              (status = 422, body = super::ErrorBody)))]
pub(super) async fn update_target(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, target_id)): Ids,
    Json(body): Json<TargetInput>,
) -> Result<Json<TargetView>> {
    state.require(&caller, Permission::RotationWrite).await?;
    Ok(Json(
        state
            .rotation
            .update_target(&caller, &id, &target_id, body)
            .await?
            .into(),
    ))
}

/// Delete target (its history goes with it)
#[utoipa::path(delete, path = "/api/v1/certificates/{id}/targets/{target_id}", tag = "rotation",
    params(("id" = String, Path), ("target_id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete_target(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, target_id)): Ids,
) -> Result<StatusCode> {
    state.require(&caller, Permission::RotationWrite).await?;
    state
        .rotation
        .delete_target(&caller, &id, &target_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sync target manually: queue a push of the certificate to this target
#[utoipa::path(post, path = "/api/v1/certificates/{id}/targets/{target_id}/sync", tag = "rotation",
    params(("id" = String, Path), ("target_id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = RunView), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn sync(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, target_id)): Ids,
) -> Result<(StatusCode, Json<RunView>)> {
    state.require(&caller, Permission::RotationExecute).await?;
    let run = state.rotation.sync(&caller, &id, &target_id).await?;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}
