//! Security events: who did what to which object, and whether it was allowed.

use serde::Serialize;
use uuid::Uuid;

use crate::store::{NewAuditEvent, Store};
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
        let id = Uuid::new_v4().to_string();
        let occurred_at = timestamp::now_string();
        let details = event.details.as_ref().map(|d| d.to_string());
        self.store
            .audit_insert(NewAuditEvent {
                id: &id,
                occurred_at: &occurred_at,
                organization_id: event.organization_id,
                actor: event.actor,
                action: event.action,
                target: event.target,
                severity: event.severity.as_str(),
                outcome: event.outcome.as_str(),
                request_id: event.request_id,
                details: details.as_deref(),
            })
            .await?;
        Ok(())
    }
}
