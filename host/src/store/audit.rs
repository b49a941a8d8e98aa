//! The append-only audit log.

use rusqlite::params;
use sqlx::{FromRow, QueryBuilder, Sqlite};

use super::codec::{json, name, time};
use super::{Scope, Store, StoreError, Tx};
use crate::model::{AuditFilter, AuditRecord, Outcome, Severity};
use crate::timestamp;

#[derive(FromRow)]
struct AuditEventRow {
    id: String,
    occurred_at: String,
    organization_id: Option<String>,
    actor: String,
    action: String,
    target: Option<String>,
    severity: String,
    outcome: String,
    request_id: Option<String>,
    details: Option<String>,
}

impl AuditEventRow {
    fn into_model(self) -> Result<AuditRecord, StoreError> {
        Ok(AuditRecord {
            occurred_at: time("audit_events.occurred_at", &self.occurred_at)?,
            severity: name("audit_events.severity", &self.severity, Severity::parse)?,
            outcome: name("audit_events.outcome", &self.outcome, Outcome::parse)?,
            details: self
                .details
                .as_deref()
                .map(|d| json("audit_events.details", d))
                .transpose()?,
            id: self.id,
            organization_id: self.organization_id,
            actor: self.actor,
            action: self.action,
            target: self.target,
            request_id: self.request_id,
        })
    }
}

impl Store {
    pub async fn audit_insert(&self, event: AuditRecord) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.audit_insert(&event)).await
    }

    /// A scope's events, newest first, with the total that matches the filter. Events
    /// belong to an organization, not to a project.
    pub async fn audit_list(
        &self,
        scope: Scope<'_>,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<AuditRecord>, i64), StoreError> {
        let mut select = QueryBuilder::<Sqlite>::new("SELECT * FROM audit_events");
        push_filter(&mut select, scope, filter);
        select.push(" ORDER BY seq DESC LIMIT ");
        select.push_bind(limit);
        select.push(" OFFSET ");
        select.push_bind(offset);
        let rows: Vec<AuditEventRow> = select.build_query_as().fetch_all(&self.pool).await?;

        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM audit_events");
        push_filter(&mut count, scope, filter);
        let total = count.build_query_scalar().fetch_one(&self.pool).await?;
        let records = rows
            .into_iter()
            .map(AuditEventRow::into_model)
            .collect::<Result<_, _>>()?;
        Ok((records, total))
    }
}

impl Tx<'_> {
    pub fn audit_insert(&mut self, event: &AuditRecord) -> Result<(), StoreError> {
        let mut insert = self.conn().prepare_cached(
            "INSERT INTO audit_events (id, occurred_at, organization_id, actor, action, target,
                                       severity, outcome, request_id, details)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?;
        insert.execute(params![
            event.id,
            timestamp::format(event.occurred_at),
            event.organization_id,
            event.actor,
            event.action,
            event.target,
            event.severity.as_str(),
            event.outcome.as_str(),
            event.request_id,
            event.details.as_ref().map(|details| details.to_string()),
        ])?;
        Ok(())
    }
}

fn push_filter<'a>(
    query: &mut QueryBuilder<'a, Sqlite>,
    scope: Scope<'a>,
    filter: &'a AuditFilter,
) {
    query.push(" WHERE organization_id = ");
    query.push_bind(scope.organization_id());
    let equal = [
        ("actor", filter.actor.as_deref()),
        ("action", filter.action.as_deref()),
        ("target", filter.target.as_deref()),
        ("severity", filter.severity.map(Severity::as_str)),
        ("outcome", filter.outcome.map(Outcome::as_str)),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            query.push(format_args!(" AND {column} = "));
            query.push_bind(value);
        }
    }
    if let Some(since) = filter.since {
        query
            .push(" AND occurred_at >= ")
            .push_bind(timestamp::format(since));
    }
    if let Some(until) = filter.until {
        query
            .push(" AND occurred_at < ")
            .push_bind(timestamp::format(until));
    }
}
