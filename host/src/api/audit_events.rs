//! `/api/v1/audit-events`: the security event log, newest first.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Json, Query};
use super::pagination::{Page, PageQuery};
use super::{AppState, Route};
use crate::auth::{Caller, Permission};
use crate::model::{AuditFilter, AuditRecord, Outcome, Severity};
use crate::store::Scope;
use crate::{Error, Result, timestamp};

pub(super) fn routes() -> Vec<Route> {
    vec![Route::at("/api/v1/audit-events").get(list)]
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    pub occurred_at: String,
    pub organization_id: Option<String>,
    /// Who acted, e.g. `api_key:pk_...` or `system`.
    pub actor: String,
    /// What happened, e.g. `api_key.create`, `permission.denied`.
    pub action: String,
    pub target: Option<String>,
    #[schema(example = "high")]
    pub severity: String,
    /// `success` or `denied`.
    pub outcome: String,
    pub request_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl From<AuditRecord> for AuditEventView {
    fn from(record: AuditRecord) -> Self {
        Self {
            id: record.id,
            occurred_at: timestamp::format(record.occurred_at),
            organization_id: record.organization_id,
            actor: record.actor,
            action: record.action,
            target: record.target,
            severity: record.severity.as_str().to_owned(),
            outcome: record.outcome.as_str().to_owned(),
            request_id: record.request_id,
            details: record.details,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// `low`, `medium` or `high`.
    pub severity: Option<String>,
    /// `success` or `denied`.
    pub outcome: Option<String>,
    /// Events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Events before this RFC 3339 time.
    pub until: Option<String>,
    /// Another organization's events (platform administrators only).
    pub organization_id: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

fn parse_time(field: &str, text: Option<String>) -> Result<Option<time::OffsetDateTime>> {
    text.map(|t| {
        timestamp::parse(&t)
            .ok_or_else(|| Error::bad_request(field, "must be an RFC 3339 timestamp"))
    })
    .transpose()
}

#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Page<AuditEventView>), (status = 400, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Page<AuditEventView>>> {
    state.require(&caller, Permission::AuditRead).await?;
    let page = PageQuery::new(query.page, query.per_page);
    let (_, per_page, offset) = page.resolve()?;
    let severity = query
        .severity
        .map(|s| {
            Severity::parse(&s)
                .ok_or_else(|| Error::bad_request("severity", "must be low, medium or high"))
        })
        .transpose()?;
    let outcome = query
        .outcome
        .map(|o| {
            Outcome::parse(&o)
                .ok_or_else(|| Error::bad_request("outcome", "must be success or denied"))
        })
        .transpose()?;
    let organization_id = match query.organization_id {
        Some(org) if org != caller.organization_id() => {
            state.require(&caller, Permission::PlatformAdmin).await?;
            org
        }
        _ => caller.organization_id().to_owned(),
    };
    let filter = AuditFilter {
        actor: query.actor,
        action: query.action,
        target: query.target,
        severity,
        outcome,
        since: parse_time("since", query.since)?,
        until: parse_time("until", query.until)?,
    };
    let (records, total) = state
        .store
        .audit_list(
            Scope::organization(&organization_id),
            &filter,
            offset,
            per_page,
        )
        .await?;
    Ok(Json(page.page(records, total, AuditEventView::from)?))
}
