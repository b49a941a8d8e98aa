//! A write transaction on the group-commit writer's connection: the statements of
//! one unit of work (a change, its audit event, the webhook events it causes), run in
//! place on the writer thread. See [`super::writer`].

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use std::sync::Arc;

use super::StoreError;
use super::cache::{Caches, Subscription};
use super::pki::CertificateRow;
use crate::model::{AuditRecord, Certificate, Event};
use crate::timestamp;

pub struct Tx<'c> {
    conn: &'c Connection,
    caches: &'c Caches,
    queued_deliveries: bool,
}

impl<'c> Tx<'c> {
    pub(super) fn new(conn: &'c Connection, caches: &'c Caches) -> Self {
        Self {
            conn,
            caches,
            queued_deliveries: false,
        }
    }

    pub(super) fn queued_deliveries(&self) -> bool {
        self.queued_deliveries
    }

    /// The connection, for statements of the writer's own tests.
    #[cfg(test)]
    pub(super) fn conn(&self) -> &Connection {
        self.conn
    }

    pub fn certificate_insert(&mut self, certificate: &Certificate) -> Result<(), StoreError> {
        let row = CertificateRow::try_from(certificate)?;
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO certificates (id, organization_id, project_id, ca_id, template_id, status,
                archived_status, common_name, subject, san, key_type, key_storage_mode, validity_days,
                csr_pem, serial_number, certificate_der, sealed_key, fingerprint_sha256, issuer_cn,
                not_before, not_after, requested_by, requested_at, decided_by, decided_at,
                rejection_reason, revoked_at, revoked_by, revocation_reason, revocation_comment,
                properties, created_at, updated_at, renewed_from, source, chain_pem)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                     ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?;
        insert.execute(params![
            row.id,
            row.organization_id,
            row.project_id,
            row.ca_id,
            row.template_id,
            row.status,
            row.archived_status,
            row.common_name,
            row.subject,
            row.san,
            row.key_type,
            row.key_storage_mode,
            row.validity_days,
            row.csr_pem,
            row.serial_number,
            row.certificate_der,
            row.sealed_key,
            row.fingerprint_sha256,
            row.issuer_cn,
            row.not_before,
            row.not_after,
            row.requested_by,
            row.requested_at,
            row.decided_by,
            row.decided_at,
            row.rejection_reason,
            row.revoked_at,
            row.revoked_by,
            row.revocation_reason,
            row.revocation_comment,
            row.properties,
            row.created_at,
            row.updated_at,
            row.renewed_from,
            row.source,
            row.chain_pem,
        ])?;
        Ok(())
    }

    pub fn audit_insert(&mut self, event: &AuditRecord) -> Result<(), StoreError> {
        let mut insert = self.conn.prepare_cached(
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

    /// Puts `event` in the outbox when some active webhook of its tenant subscribes to
    /// its type; the dispatcher makes its deliveries later ([`Tx::outbox_fan_out`]), so
    /// the change pays for one row however many webhooks want it. Returns whether the
    /// event was kept.
    pub fn outbox_insert(
        &mut self,
        id: &str,
        occurred_at: OffsetDateTime,
        event: &Event,
    ) -> Result<bool, StoreError> {
        let event_type = event.kind.as_str();
        let wanted = self
            .subscriptions(&event.organization_id)?
            .iter()
            .any(|subscription| subscription.wants(event_type, event.project_id.as_deref()));
        if !wanted {
            return Ok(false);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO webhook_events (id, organization_id, project_id, event_type,
                                             occurred_at, payload, fanned_out)
                 VALUES (?, ?, ?, ?, ?, ?, 0)",
            )?
            .execute(params![
                id,
                event.organization_id,
                event.project_id,
                event_type,
                timestamp::format(occurred_at),
                event.data.to_string(),
            ])?;
        self.queued_deliveries = true;
        Ok(true)
    }

    /// Makes the deliveries of up to `limit` outbox events that have none yet: one for
    /// each webhook that subscribes to the event and existed when it occurred, due since
    /// then. Returns the number of events fanned out.
    pub fn outbox_fan_out(&mut self, limit: usize) -> Result<usize, StoreError> {
        let events: Vec<(String, String, Option<String>, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, organization_id, project_id, event_type, occurred_at
                 FROM webhook_events WHERE fanned_out = 0 ORDER BY id LIMIT ?1",
            )?
            .query_map([limit], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        for (id, organization_id, project_id, event_type, occurred_at) in &events {
            for subscription in self.subscriptions(organization_id)?.iter() {
                if subscription.wants(event_type, project_id.as_deref())
                    && subscription.created_at <= *occurred_at
                {
                    self.conn
                        .prepare_cached(
                            "INSERT INTO webhook_deliveries (id, webhook_id, event_id, status,
                                 attempts, next_attempt_at, redelivery_of, created_at)
                             VALUES (?, ?, ?, 'pending', 0, ?, NULL, ?)",
                        )?
                        .execute(params![
                            crate::model::new_id(),
                            subscription.webhook_id,
                            id,
                            occurred_at,
                            occurred_at
                        ])?;
                }
            }
            self.conn
                .prepare_cached("UPDATE webhook_events SET fanned_out = 1 WHERE id = ?1")?
                .execute([id])?;
        }
        if !events.is_empty() {
            self.queued_deliveries = true;
        }
        Ok(events.len())
    }

    /// The organization's active webhooks, from memory when no webhook changed since
    /// they were read.
    fn subscriptions(&self, organization_id: &str) -> Result<Arc<[Subscription]>, StoreError> {
        let cache = &self.caches.subscriptions;
        if let Some(known) = cache.get(organization_id) {
            return Ok(known);
        }
        let ticket = cache.ticket();
        let subscriptions: Arc<[Subscription]> = self
            .conn
            .prepare_cached(
                "SELECT id, project_id, events, created_at FROM webhooks
                 WHERE organization_id = ?1 AND active = 1",
            )?
            .query_map([organization_id], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get::<_, String>(2)?,
                    row.get(3)?,
                ))
            })?
            .map(|row| {
                let (webhook_id, project_id, events, created_at) = row?;
                Ok(Subscription {
                    webhook_id,
                    project_id,
                    events: super::codec::json("webhooks.events", &events)?,
                    created_at,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        cache.fill(ticket, organization_id.to_owned(), subscriptions.clone());
        Ok(subscriptions)
    }
}
