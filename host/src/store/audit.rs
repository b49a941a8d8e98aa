//! The append-only audit log.

use sqlx::{FromRow, QueryBuilder, Sqlite};

use super::{Store, WriteTx};

#[derive(Debug, Clone, FromRow)]
pub struct AuditEventRow {
    pub seq: i64,
    pub id: String,
    pub occurred_at: String,
    pub organization_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub severity: String,
    pub outcome: String,
    pub request_id: Option<String>,
    pub details: Option<String>,
}

pub struct NewAuditEvent<'a> {
    pub id: &'a str,
    pub occurred_at: &'a str,
    pub organization_id: Option<&'a str>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub severity: &'a str,
    pub outcome: &'a str,
    pub request_id: Option<&'a str>,
    pub details: Option<&'a str>,
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub organization_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub severity: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl Store {
    pub async fn audit_insert(&self, event: NewAuditEvent<'_>) -> Result<(), sqlx::Error> {
        insert(&self.pool, event).await
    }

    /// Newest first, with the total that matches the filter.
    pub async fn audit_list(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<AuditEventRow>, i64), sqlx::Error> {
        let mut select = QueryBuilder::<Sqlite>::new("SELECT * FROM audit_events");
        push_filter(&mut select, filter);
        select.push(" ORDER BY seq DESC LIMIT ");
        select.push_bind(limit);
        select.push(" OFFSET ");
        select.push_bind(offset);
        let rows = select.build_query_as().fetch_all(&self.pool).await?;

        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM audit_events");
        push_filter(&mut count, filter);
        let total = count.build_query_scalar().fetch_one(&self.pool).await?;
        Ok((rows, total))
    }
}

impl WriteTx {
    pub async fn audit_insert(&mut self, event: NewAuditEvent<'_>) -> Result<(), sqlx::Error> {
        insert(self.conn(), event).await
    }
}

async fn insert<'e, E>(executor: E, event: NewAuditEvent<'_>) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, organization_id, actor, action, target,
                                   severity, outcome, request_id, details)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(event.id)
    .bind(event.occurred_at)
    .bind(event.organization_id)
    .bind(event.actor)
    .bind(event.action)
    .bind(event.target)
    .bind(event.severity)
    .bind(event.outcome)
    .bind(event.request_id)
    .bind(event.details)
    .execute(executor)
    .await
    .map(|_| ())
}

fn push_filter<'a>(query: &mut QueryBuilder<'a, Sqlite>, filter: &'a AuditFilter) {
    query.push(" WHERE 1 = 1");
    let equal = [
        ("organization_id", &filter.organization_id),
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("target", &filter.target),
        ("severity", &filter.severity),
        ("outcome", &filter.outcome),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            query.push(format_args!(" AND {column} = "));
            query.push_bind(value.as_str());
        }
    }
    if let Some(since) = &filter.since {
        query.push(" AND occurred_at >= ").push_bind(since.as_str());
    }
    if let Some(until) = &filter.until {
        query.push(" AND occurred_at < ").push_bind(until.as_str());
    }
}
