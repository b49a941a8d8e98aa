//! Webhooks: the events they deliver, endpoints, and the delivery log.

use serde_json::{Map, Value};
use time::OffsetDateTime;

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

    /// Any kind by name, the test ping included.
    pub fn parse_any(name: &str) -> Option<Self> {
        if name == Self::WebhookPing.as_str() {
            Some(Self::WebhookPing)
        } else {
            Self::parse(name)
        }
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

/// An endpoint that receives events.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub organization_id: String,
    /// `None`: the events of every project of the organization.
    pub project_id: Option<String>,
    pub url: String,
    /// The subscribed kinds, without duplicates, in the order given.
    pub events: Vec<EventKind>,
    /// The signing secret, sealed; opened only to sign a delivery.
    pub sealed_secret: Vec<u8>,
    /// The webhook-transport plugin that delivers.
    pub transport: String,
    /// Per-endpoint transport settings.
    pub config: Map<String, Value>,
    pub description: Option<String>,
    /// An inactive webhook receives no new events; its pending deliveries wait.
    pub active: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// To be tried at `next_attempt_at`.
    Pending,
    Delivered,
    /// Given up after the last attempt, until someone redelivers it.
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Delivered, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One event for one webhook, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    pub id: String,
    pub webhook_id: String,
    /// The same on every retry and redelivery; receivers deduplicate on it.
    pub event_id: String,
    pub event_type: EventKind,
    pub occurred_at: OffsetDateTime,
    /// The event's data.
    pub data: Map<String, Value>,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    /// The delivery this one repeats.
    pub redelivery_of: Option<String>,
    pub created_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

/// One try to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub delivery_id: String,
    /// From 1.
    pub attempt: u32,
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    /// The receiver's HTTP status; `None` when no answer came.
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

/// What a listing of deliveries is narrowed to; `None` matches anything.
#[derive(Debug, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    /// An event type name.
    pub event_type: Option<String>,
}

/// A leased delivery with everything one attempt needs.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub delivery_id: String,
    pub lease_token: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub webhook_id: String,
    pub url: String,
    pub transport: String,
    /// The endpoint's transport settings as stored (JSON text), handed to the transport.
    pub config: String,
    pub sealed_secret: Vec<u8>,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub event_id: String,
    pub event_type: EventKind,
    pub occurred_at: OffsetDateTime,
    /// The event's data as stored (JSON text): sent, and signed, byte for byte.
    pub payload: String,
}

/// The result of one attempt, written back under the lease it was made with.
#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    pub delivery_id: String,
    pub lease_token: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// `Pending` (retry at `next_attempt_at`), `Delivered` or `Dead`.
    pub status: DeliveryStatus,
    pub next_attempt_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ping_is_not_subscribable() {
        for kind in EventKind::SUBSCRIBABLE {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(EventKind::parse_any(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("webhook.ping"), None);
        assert_eq!(
            EventKind::parse_any("webhook.ping"),
            Some(EventKind::WebhookPing)
        );
        assert_eq!(EventKind::parse("certificate.*"), None);
        assert_eq!(EventKind::parse_any("certificate.*"), None);
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DeliveryStatus::parse("failed"), None);
    }
}
