//! Security events: who did what to which object, and whether it was allowed.

pub use crate::model::audit::{AuditEvent, AuditRecord, Outcome, Severity};
use crate::store::Store;
use crate::timestamp;

#[derive(Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records `event` on its own. An event that describes a change is written with it
    /// instead: [`AuditEvent::record`] in the change's unit of [`Store::transaction`].
    pub async fn record(&self, event: AuditEvent<'_>) -> crate::Result<()> {
        self.store.audit_insert(event.record()).await?;
        Ok(())
    }
}

impl AuditEvent<'_> {
    /// Stamps the event with an id and the time, owning its fields, so that a unit of
    /// [`Store::transaction`] can write it with the change it describes.
    pub fn record(&self) -> AuditRecord {
        AuditRecord {
            id: crate::model::new_id(),
            occurred_at: timestamp::now(),
            organization_id: self.organization_id.map(str::to_owned),
            actor: self.actor.clone(),
            action: self.action.to_owned(),
            target: self.target.map(str::to_owned),
            severity: self.severity,
            outcome: self.outcome,
            request_id: self.request_id.map(str::to_owned),
            details: self.details.clone(),
        }
    }
}
