//! The events webhooks deliver, and how code that changes something emits one.
//!
//! An event goes into the outbox inside the unit of work of the change that caused it
//! ([`emit`] in a [`Store::transaction`]), so that it exists if and only if the change
//! committed. The dispatcher makes its deliveries afterwards, one for every active
//! webhook of its tenant that subscribes to its kind, and delivers each at least once.
//!
//! ```ignore
//! let event = Event::new(EventKind::RotationFailed, org, Some(project), data);
//! store
//!     .transaction(move |tx| {
//!         // ... the change itself, and its audit event (`tx.audit_insert`) ...
//!         events::emit(tx, &event)?;
//!         Ok::<_, Error>(())
//!     })
//!     .await?;
//! ```

pub use crate::model::webhook::{Event, EventKind};
use crate::store::{Store, Tx};
use crate::{Error, Result, timestamp};

/// Puts `event` in the outbox inside `tx`. It is delivered after `tx` commits, and never
/// when it rolls back. Returns whether some webhook subscribes (otherwise nothing is
/// written).
pub fn emit(tx: &mut Tx<'_>, event: &Event) -> Result<bool> {
    check_data(event)?;
    Ok(tx.outbox_insert(&crate::model::new_id(), timestamp::now(), event)?)
}

/// Emits `event` in a transaction of its own, for a change that has no transaction to
/// join (for example a failure that changed nothing).
pub async fn emit_now(store: &Store, event: Event) -> Result<bool> {
    store.transaction(move |tx| emit(tx, &event)).await
}

/// Queues `event` for one webhook only, whatever it subscribes to; returns the
/// delivery's id.
pub(super) fn emit_to(tx: &mut Tx<'_>, event: &Event, webhook_id: &str) -> Result<String> {
    check_data(event)?;
    tx.outbox_insert_for(&crate::model::new_id(), timestamp::now(), event, webhook_id)?
        .ok_or_else(|| Error::NotFound(format!("webhook '{webhook_id}'")))
}

fn check_data(event: &Event) -> Result<()> {
    if event.data.is_object() {
        Ok(())
    } else {
        Err(Error::internal(anyhow::anyhow!(
            "event data of {} must be a JSON object",
            event.kind.as_str()
        )))
    }
}
