//! The events webhooks deliver, and how code that changes something emits one.
//!
//! An event goes into the outbox inside the transaction of the change that caused it
//! ([`emit`]), so that it exists if and only if the change committed. The dispatcher
//! delivers it afterwards, at least once, to every active webhook of its tenant that
//! subscribes to its kind.
//!
//! ```ignore
//! let mut tx = store.write().await?;
//! // ... the change itself, and its audit event (`AuditLog::record_in`) ...
//! events::emit(&mut tx, &Event::new(EventKind::RotationFailed, org, Some(project), data)).await?;
//! tx.commit().await?;
//! ```

use serde_json::Value;

use crate::store::{NewEvent, Store, Tx, WriteTx};
use crate::{Error, Result, timestamp};

/// What happened. The names are the `type` receivers see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    CertificateIssued,
    CertificateRenewed,
    CertificateRevoked,
    CertificateExpiring,
    CertificateExpired,
    KeyRotated,
    JwkCreated,
    RotationFailed,
    /// A test event a caller sends to one webhook; nobody subscribes to it.
    WebhookPing,
}

impl EventKind {
    /// The kinds a webhook may subscribe to.
    pub const SUBSCRIBABLE: [EventKind; 8] = [
        Self::CertificateIssued,
        Self::CertificateRenewed,
        Self::CertificateRevoked,
        Self::CertificateExpiring,
        Self::CertificateExpired,
        Self::KeyRotated,
        Self::JwkCreated,
        Self::RotationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertificateIssued => "certificate.issued",
            Self::CertificateRenewed => "certificate.renewed",
            Self::CertificateRevoked => "certificate.revoked",
            Self::CertificateExpiring => "certificate.expiring",
            Self::CertificateExpired => "certificate.expired",
            Self::KeyRotated => "key.rotated",
            Self::JwkCreated => "jwk.created",
            Self::RotationFailed => "rotation.failed",
            Self::WebhookPing => "webhook.ping",
        }
    }

    /// A subscribable kind by name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::SUBSCRIBABLE.into_iter().find(|k| k.as_str() == name)
    }

    pub fn names() -> Vec<&'static str> {
        Self::SUBSCRIBABLE.map(Self::as_str).to_vec()
    }
}

/// One event: what happened, in which tenant, with its data.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub organization_id: String,
    /// The project the event belongs to; webhooks of other projects do not receive it.
    pub project_id: Option<String>,
    /// A JSON object with camelCase members. Never a secret or a private key.
    pub data: Value,
}

impl Event {
    pub fn new(
        kind: EventKind,
        organization_id: impl Into<String>,
        project_id: Option<&str>,
        data: Value,
    ) -> Self {
        Self {
            kind,
            organization_id: organization_id.into(),
            project_id: project_id.map(str::to_owned),
            data,
        }
    }
}

/// Puts `event` in the outbox inside `tx`. It is delivered after `tx` commits, and never
/// when it rolls back. Returns the number of deliveries queued (0 when no webhook
/// subscribes).
pub async fn emit(tx: &mut WriteTx, event: &Event) -> Result<usize> {
    Ok(queue(tx, event, None).await?.len())
}

/// Emits `event` in a transaction of its own, for a change that has no transaction to
/// join (for example a failure that changed nothing).
pub async fn emit_now(store: &Store, event: &Event) -> Result<usize> {
    let mut tx = store.write().await?;
    let queued = emit(&mut tx, event).await?;
    tx.commit().await?;
    Ok(queued)
}

/// Queues `event` for one webhook only, whatever it subscribes to; returns the
/// delivery's id.
pub(super) async fn emit_to(tx: &mut WriteTx, event: &Event, webhook_id: &str) -> Result<String> {
    queue(tx, event, Some(webhook_id))
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound(format!("webhook '{webhook_id}'")))
}

/// As [`emit`], inside a unit of work of [`Store::transaction`].
pub fn emit_in(tx: &mut Tx<'_>, event: &Event) -> Result<usize> {
    let stamped = Stamped::of(event)?;
    Ok(tx.outbox_insert(&stamped.new_event(event))?.len())
}

/// Returns the ids of the deliveries queued.
async fn queue(tx: &mut WriteTx, event: &Event, webhook_id: Option<&str>) -> Result<Vec<String>> {
    let stamped = Stamped::of(event)?;
    Ok(tx
        .outbox_insert(stamped.new_event(event), webhook_id)
        .await?)
}

/// An event's id, time and payload, given as it enters the outbox.
struct Stamped {
    id: String,
    occurred_at: String,
    payload: String,
}

impl Stamped {
    fn of(event: &Event) -> Result<Self> {
        if !event.data.is_object() {
            return Err(Error::internal(anyhow::anyhow!(
                "event data of {} must be a JSON object",
                event.kind.as_str()
            )));
        }
        Ok(Self {
            id: crate::model::new_id(),
            occurred_at: timestamp::now_string(),
            payload: event.data.to_string(),
        })
    }

    fn new_event<'a>(&'a self, event: &'a Event) -> NewEvent<'a> {
        NewEvent {
            id: &self.id,
            organization_id: &event.organization_id,
            project_id: event.project_id.as_deref(),
            event_type: event.kind.as_str(),
            occurred_at: &self.occurred_at,
            payload: &self.payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ping_is_not_subscribable() {
        for kind in EventKind::SUBSCRIBABLE {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("webhook.ping"), None);
        assert_eq!(EventKind::parse("certificate.*"), None);
    }
}
