//! Security events: who did what to which object, and whether it was allowed.

use uuid::Uuid;

pub use crate::model::audit::{AuditEvent, Outcome, Severity};
use crate::store::{Store, WriteTx};
use crate::timestamp;

#[derive(Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn record(&self, event: AuditEvent<'_>) -> crate::Result<()> {
        self.store
            .audit_insert(&Uuid::new_v4().to_string(), timestamp::now(), &event)
            .await?;
        Ok(())
    }

    /// Records `event` inside `tx`, so that it commits with the change it describes.
    pub async fn record_in(tx: &mut WriteTx, event: AuditEvent<'_>) -> crate::Result<()> {
        tx.audit_insert(&Uuid::new_v4().to_string(), timestamp::now(), &event)
            .await?;
        Ok(())
    }
}
