//! Webhooks at `/api/webhooks` (reference API 000), camelCase JSON: endpoints, their
//! delivery log, redelivery and a test ping.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Json, Path, Query};
use super::keys::present;
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::crypto::{SecretString, serialize_exposed_option};
use crate::model::webhook::DeliveryStatus;
use crate::model::{DeliveryAttempt, Webhook};
use crate::webhooks::{DeliveryRecord, NewWebhook, WebhookChanges};
use crate::{Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::at("/api/webhooks").get(list).post(create),
        Route::at("/api/webhooks/{id}")
            .get(get_one)
            .patch(update)
            .delete(delete),
        Route::at("/api/webhooks/{id}/deliveries").get(deliveries),
        Route::at("/api/webhooks/{id}/deliveries/{deliveryId}").get(delivery),
        Route::at("/api/webhooks/{id}/deliveries/{deliveryId}/redeliver").post(redeliver),
        Route::at("/api/webhooks/{id}/ping").post(ping),
    ]
}

/// A webhook endpoint. Its signing secret is never shown here.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    #[schema(example = "0b9f7c1e-2f4d-4a57-9d4e-6a1c3e5b7d90")]
    pub id: String,
    #[schema(example = "https://your-server.com/hooks/keystead")]
    pub url: String,
    #[schema(example = json!(["certificate.expiring"]))]
    pub events: Vec<String>,
    pub active: bool,
    /// The webhook-transport plugin that delivers: `http-hmac` (default), `slack`,
    /// `cloudevents`, or one the operator configured.
    #[schema(example = "http-hmac")]
    pub transport: String,
    /// Per-endpoint transport settings, e.g. `{"headers": {"X-Team": "pki"}}`.
    #[schema(value_type = Object)]
    pub config: Value,
    /// The project whose events it receives; absent: every project of the organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Webhook> for WebhookView {
    fn from(webhook: Webhook) -> Self {
        Self {
            events: webhook
                .events
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            config: Value::Object(webhook.config),
            id: webhook.id,
            url: webhook.url,
            active: webhook.active,
            transport: webhook.transport,
            project_id: webhook.project_id,
            description: webhook.description,
            created_at: timestamp::format(webhook.created_at),
            updated_at: timestamp::format(webhook.updated_at),
        }
    }
}

/// A new webhook. When the server generated its secret, `secret` holds it, this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhookView {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The generated signing secret; store it now, it is not shown again. Absent when the
    /// request gave one.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_exposed_option"
    )]
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRequest {
    /// HTTPS URL to receive the webhook payload.
    #[schema(example = "https://your-server.com/hooks/keystead")]
    pub url: String,
    /// Event types to subscribe to: `certificate.issued`, `certificate.renewed`,
    /// `certificate.revoked`, `certificate.expiring`, `certificate.expired`,
    /// `key.rotated`, `jwk.created`, `rotation.failed`.
    #[schema(example = json!(["certificate.expiring"]))]
    pub events: Vec<String>,
    /// Signing secret for the HMAC-SHA256 signature (8 to 512 characters). Left out, one
    /// is generated and returned once.
    #[schema(value_type = Option<String>, example = "my-signing-secret")]
    pub secret: Option<SecretString>,
    /// Default `true`.
    pub active: Option<bool>,
    /// Default `http-hmac`.
    pub transport: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Receive only this project's events. Default: the key's own project for a
    /// project-scoped key, else every project of the organization.
    pub project_id: Option<String>,
    pub description: Option<String>,
}

/// Changes; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateRequest {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// A new signing secret; the old one stops signing at once.
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
    pub active: Option<bool>,
    pub transport: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the webhooks of this project.
    pub project_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Page number, from 1.
    #[param(minimum = 1, default = 1)]
    pub page: Option<i64>,
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 25)]
    #[serde(alias = "perPage")]
    pub per_page: Option<i64>,
    /// `pending`, `delivered` or `dead`.
    pub status: Option<String>,
    /// Only deliveries of this event type.
    pub event: Option<String>,
}

/// One try to deliver.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// From 1.
    pub attempt: i64,
    pub started_at: String,
    pub duration_ms: i64,
    /// The receiver's HTTP status; absent when no answer came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<DeliveryAttempt> for AttemptView {
    fn from(attempt: DeliveryAttempt) -> Self {
        Self {
            attempt: i64::from(attempt.attempt),
            started_at: timestamp::format(attempt.started_at),
            duration_ms: i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX),
            status_code: attempt.status_code.map(i64::from),
            error: attempt.error,
        }
    }
}

/// One event for one webhook, with every attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    pub webhook_id: String,
    /// The event's id: the same on every retry and redelivery (`X-Keystead-Event-Id`);
    /// receivers deduplicate on it.
    pub event_id: String,
    #[schema(example = "certificate.issued")]
    pub event_type: String,
    pub occurred_at: String,
    /// `pending` (to be tried at `nextAttemptAt`), `delivered`, or `dead` (given up
    /// after the last attempt; redeliver it to try again).
    pub status: String,
    pub attempt_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The delivery this one repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redelivery_of: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The event's data.
    #[schema(value_type = Object)]
    pub data: Value,
    pub attempts: Vec<AttemptView>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(record: DeliveryRecord) -> Self {
        let d = record.delivery;
        Self {
            next_attempt_at: (d.status == DeliveryStatus::Pending)
                .then(|| timestamp::format(d.next_attempt_at)),
            data: Value::Object(d.data),
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            event_type: d.event_type.as_str().to_owned(),
            occurred_at: timestamp::format(d.occurred_at),
            status: d.status.as_str().to_owned(),
            attempt_count: i64::from(d.attempts),
            last_status_code: d.last_status_code.map(i64::from),
            last_error: d.last_error,
            redelivery_of: d.redelivery_of,
            created_at: timestamp::format(d.created_at),
            finished_at: d.finished_at.map(timestamp::format),
            attempts: record.attempts.into_iter().map(AttemptView::from).collect(),
        }
    }
}

/// List webhooks
///
/// All configured webhook endpoints the key may see.
#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks", params(ListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = [WebhookView]), (status = 400, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<WebhookView>>> {
    state.require(&caller, Permission::WebhooksRead).await?;
    let webhooks = state
        .webhooks
        .list(&caller, query.project_id.as_deref())
        .await?;
    Ok(Json(webhooks.into_iter().map(WebhookView::from).collect()))
}

/// Register a webhook
///
/// Keystead sends a signed POST to the URL when a subscribed event occurs. Payloads are
/// signed with HMAC-SHA256 over `{timestamp}.{body}`, in the `X-Keystead-Signature` and
/// `X-WRVault-Signature` headers (`t=<unix seconds>,v1=<hex>`).
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", request_body = CreateRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = CreatedWebhookView), (status = 400, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateRequest>,
) -> Result<(StatusCode, Json<CreatedWebhookView>)> {
    state.require(&caller, Permission::WebhooksWrite).await?;
    let created = state
        .webhooks
        .create(
            &caller,
            NewWebhook {
                url: body.url,
                events: body.events,
                secret: body.secret,
                active: body.active,
                transport: body.transport,
                config: body.config,
                project_id: body.project_id,
                description: body.description,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhookView {
            webhook: created.webhook.into(),
            secret: created.generated_secret,
        }),
    ))
}

/// Get a webhook
#[utoipa::path(get, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = WebhookView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>> {
    state.require(&caller, Permission::WebhooksRead).await?;
    Ok(Json(state.webhooks.get(&caller, &id).await?.into()))
}

/// Update a webhook
///
/// Changes the URL, the events, the secret, the transport, its settings or whether it
/// is active. An inactive webhook receives no new events; its pending deliveries wait.
#[utoipa::path(patch, path = "/api/webhooks/{id}", tag = "webhooks", request_body = UpdateRequest,
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = WebhookView), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateRequest>,
) -> Result<Json<WebhookView>> {
    state.require(&caller, Permission::WebhooksWrite).await?;
    let webhook = state
        .webhooks
        .update(
            &caller,
            &id,
            WebhookChanges {
                url: body.url,
                events: body.events,
                secret: body.secret,
                active: body.active,
                transport: body.transport,
                config: body.config,
                description: body.description,
            },
        )
        .await?;
    Ok(Json(webhook.into()))
}

/// Delete a webhook
///
/// Its pending deliveries and its delivery log are deleted with it.
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 204), (status = 403, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.require(&caller, Permission::WebhooksWrite).await?;
    state.webhooks.delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery log
///
/// A webhook's deliveries, newest first, each with its attempts.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), DeliveryQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<DeliveryView>), (status = 400, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody)))]
pub(super) async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<DeliveryQuery>,
) -> Result<Json<Page<DeliveryView>>> {
    state.require(&caller, Permission::WebhooksRead).await?;
    let page = PageQuery::new(query.page, query.per_page)
        .fetch(
            |offset, per_page| {
                state.webhooks.deliveries(
                    &caller,
                    &id,
                    query.status.as_deref(),
                    query.event,
                    offset,
                    per_page,
                )
            },
            DeliveryView::from,
        )
        .await?;
    Ok(Json(page))
}

/// Get a delivery
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries/{deliveryId}", tag = "webhooks",
    params(("id" = String, Path), ("deliveryId" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = DeliveryView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn delivery(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Json<DeliveryView>> {
    state.require(&caller, Permission::WebhooksRead).await?;
    Ok(Json(
        state
            .webhooks
            .delivery(&caller, &id, &delivery_id)
            .await?
            .into(),
    ))
}

/// Redeliver
///
/// Queues the delivery's event again for this webhook, as a new delivery with the same
/// event id. Works on any delivery, `dead` ones included.
#[utoipa::path(post, path = "/api/webhooks/{id}/deliveries/{deliveryId}/redeliver", tag = "webhooks",
    params(("id" = String, Path), ("deliveryId" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = DeliveryView), (status = 404, body = super::ErrorBody)))]
pub(super) async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryView>)> {
    state.require(&caller, Permission::WebhooksWrite).await?;
    let record = state.webhooks.redeliver(&caller, &id, &delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(record.into())))
}

/// Send a ping
///
/// Queues a `webhook.ping` event for this webhook only, to test the endpoint.
#[utoipa::path(post, path = "/api/webhooks/{id}/ping", tag = "webhooks",
    params(("id" = String, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, body = DeliveryView), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)))]
pub(super) async fn ping(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>)> {
    state.require(&caller, Permission::WebhooksWrite).await?;
    let record = state.webhooks.ping(&caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(record.into())))
}
