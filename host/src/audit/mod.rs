//! Security events: who did what to which object, and whether it was allowed.

use serde::Serialize;

use crate::store::{NewAuditEvent, Store, Tx, WriteTx};
use crate::timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
        }
    }
}

/// One event to record. `details` must never hold a secret.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub organization_id: Option<&'a str>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub severity: Severity,
    pub outcome: Outcome,
    pub request_id: Option<&'a str>,
    pub details: Option<serde_json::Value>,
}

#[derive(Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn record(&self, event: AuditEvent<'_>) -> crate::Result<()> {
        let (id, occurred_at, details) = event.stamp();
        self.store
            .audit_insert(event.row(&id, &occurred_at, details.as_deref()))
            .await?;
        Ok(())
    }

    /// Records `event` inside `tx`, so that it commits with the change it describes.
    pub async fn record_in(tx: &mut WriteTx, event: AuditEvent<'_>) -> crate::Result<()> {
        let (id, occurred_at, details) = event.stamp();
        tx.audit_insert(event.row(&id, &occurred_at, details.as_deref()))
            .await?;
        Ok(())
    }
}

/// An audit event stamped with its id and time, owning its fields, so that it can be
/// written by a unit of work of [`Store::transaction`].
#[derive(Debug, Clone)]
pub struct AuditRecord {
    id: String,
    occurred_at: String,
    organization_id: Option<String>,
    actor: String,
    action: String,
    target: Option<String>,
    severity: Severity,
    outcome: Outcome,
    request_id: Option<String>,
    details: Option<String>,
}

impl AuditRecord {
    /// Writes this event inside `tx`, so that it commits with the change it describes.
    pub fn write(&self, tx: &mut Tx<'_>) -> crate::Result<()> {
        tx.audit_insert(&NewAuditEvent {
            id: &self.id,
            occurred_at: &self.occurred_at,
            organization_id: self.organization_id.as_deref(),
            actor: &self.actor,
            action: &self.action,
            target: self.target.as_deref(),
            severity: self.severity.as_str(),
            outcome: self.outcome.as_str(),
            request_id: self.request_id.as_deref(),
            details: self.details.as_deref(),
        })?;
        Ok(())
    }
}

impl<'a> AuditEvent<'a> {
    /// Stamps the event for writing in a unit of work.
    pub fn record(&self) -> AuditRecord {
        let (id, occurred_at, details) = self.stamp();
        AuditRecord {
            id,
            occurred_at,
            organization_id: self.organization_id.map(str::to_owned),
            actor: self.actor.to_owned(),
            action: self.action.to_owned(),
            target: self.target.map(str::to_owned),
            severity: self.severity,
            outcome: self.outcome,
            request_id: self.request_id.map(str::to_owned),
            details,
        }
    }

    /// A new id, the time, and the details as JSON text.
    fn stamp(&self) -> (String, String, Option<String>) {
        (
            crate::model::new_id(),
            timestamp::now_string(),
            self.details.as_ref().map(|d| d.to_string()),
        )
    }

    fn row<'b>(
        &'b self,
        id: &'b str,
        occurred_at: &'b str,
        details: Option<&'b str>,
    ) -> NewAuditEvent<'b> {
        NewAuditEvent {
            id,
            occurred_at,
            organization_id: self.organization_id,
            actor: self.actor,
            action: self.action,
            target: self.target,
            severity: self.severity.as_str(),
            outcome: self.outcome.as_str(),
            request_id: self.request_id,
            details,
        }
    }
}
