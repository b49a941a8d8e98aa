//! Webhook endpoints, the outbox of events, deliveries with their leases and attempts,
//! and the certificate expiry notices already given.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::cache::{Changed, Subscription};
use super::codec::{int, int_text, json, json_text, name, optional_time, optional_time_text, time};
use super::{Scope, Store, StoreError, Tx};
use crate::model::webhook::{
    DeliveryFilter, DeliveryJob, DeliveryOutcome, DeliveryStatus, Event, EventKind,
};
use crate::model::{DeliveryAttempt, Webhook, WebhookDelivery};
use crate::timestamp;

#[derive(FromRow)]
struct WebhookRow {
    id: String,
    organization_id: String,
    project_id: Option<String>,
    url: String,
    /// The subscribed event types, a JSON array.
    events: String,
    sealed_secret: Vec<u8>,
    transport: String,
    /// Per-endpoint transport settings, a JSON object.
    config: String,
    description: Option<String>,
    active: bool,
    created_at: String,
    updated_at: String,
}

impl WebhookRow {
    fn into_model(self) -> Result<Webhook, StoreError> {
        let events: Vec<String> = json("webhooks.events", &self.events)?;
        Ok(Webhook {
            events: events
                .iter()
                .map(|e| name("webhooks.events", e, EventKind::parse))
                .collect::<Result<_, _>>()?,
            config: json("webhooks.config", &self.config)?,
            created_at: time("webhooks.created_at", &self.created_at)?,
            updated_at: time("webhooks.updated_at", &self.updated_at)?,
            id: self.id,
            organization_id: self.organization_id,
            project_id: self.project_id,
            url: self.url,
            sealed_secret: self.sealed_secret,
            transport: self.transport,
            description: self.description,
            active: self.active,
        })
    }
}

fn events_text(events: &[EventKind]) -> Result<String, StoreError> {
    json_text(&events.iter().map(|e| e.as_str()).collect::<Vec<_>>())
}

/// An event's kind as `webhook_events.event_type` holds it.
fn event_kind(text: &str) -> Result<EventKind, StoreError> {
    name("webhook_events.event_type", text, EventKind::parse_any)
}

#[derive(FromRow)]
struct DeliveryRow {
    id: String,
    webhook_id: String,
    event_id: String,
    event_type: String,
    occurred_at: String,
    payload: String,
    status: String,
    attempts: i64,
    next_attempt_at: String,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    redelivery_of: Option<String>,
    created_at: String,
    finished_at: Option<String>,
}

impl DeliveryRow {
    fn into_model(self) -> Result<WebhookDelivery, StoreError> {
        Ok(WebhookDelivery {
            event_type: event_kind(&self.event_type)?,
            occurred_at: time("webhook_events.occurred_at", &self.occurred_at)?,
            data: json("webhook_events.payload", &self.payload)?,
            status: name(
                "webhook_deliveries.status",
                &self.status,
                DeliveryStatus::parse,
            )?,
            attempts: int("webhook_deliveries.attempts", self.attempts)?,
            next_attempt_at: time("webhook_deliveries.next_attempt_at", &self.next_attempt_at)?,
            last_status_code: self
                .last_status_code
                .map(|code| int("webhook_deliveries.last_status_code", code))
                .transpose()?,
            created_at: time("webhook_deliveries.created_at", &self.created_at)?,
            finished_at: optional_time(
                "webhook_deliveries.finished_at",
                self.finished_at.as_deref(),
            )?,
            id: self.id,
            webhook_id: self.webhook_id,
            event_id: self.event_id,
            last_error: self.last_error,
            redelivery_of: self.redelivery_of,
        })
    }
}

#[derive(FromRow)]
struct AttemptRow {
    delivery_id: String,
    attempt: i64,
    started_at: String,
    duration_ms: i64,
    status_code: Option<i64>,
    error: Option<String>,
}

impl AttemptRow {
    fn into_model(self) -> Result<DeliveryAttempt, StoreError> {
        Ok(DeliveryAttempt {
            attempt: int("webhook_attempts.attempt", self.attempt)?,
            started_at: time("webhook_attempts.started_at", &self.started_at)?,
            duration_ms: int("webhook_attempts.duration_ms", self.duration_ms)?,
            status_code: self
                .status_code
                .map(|code| int("webhook_attempts.status_code", code))
                .transpose()?,
            delivery_id: self.delivery_id,
            error: self.error,
        })
    }
}

#[derive(FromRow)]
struct DeliveryJobRow {
    delivery_id: String,
    lease_token: String,
    attempts: i64,
    webhook_id: String,
    url: String,
    transport: String,
    config: String,
    sealed_secret: Vec<u8>,
    organization_id: String,
    project_id: Option<String>,
    event_id: String,
    event_type: String,
    occurred_at: String,
    payload: String,
}

impl DeliveryJobRow {
    fn into_model(self) -> Result<DeliveryJob, StoreError> {
        Ok(DeliveryJob {
            attempts: int("webhook_deliveries.attempts", self.attempts)?,
            event_type: event_kind(&self.event_type)?,
            occurred_at: time("webhook_events.occurred_at", &self.occurred_at)?,
            delivery_id: self.delivery_id,
            lease_token: self.lease_token,
            webhook_id: self.webhook_id,
            url: self.url,
            transport: self.transport,
            config: self.config,
            sealed_secret: self.sealed_secret,
            organization_id: self.organization_id,
            project_id: self.project_id,
            event_id: self.event_id,
            payload: self.payload,
        })
    }
}

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_id, e.event_type, e.occurred_at, \
     e.payload, d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, \
     d.redelivery_of, d.created_at, d.finished_at";

/// The webhooks a scope contains: `?1` is its organization, `?2` its project (or NULL).
/// A project's scope holds that project's webhooks, not the organization-wide ones.
/// How many outbox events one writer unit fans out at most, when the delivery log is
/// read.
const FAN_OUT_BATCH: usize = 500;

const WEBHOOK_IN_SCOPE: &str = "organization_id = ?1 AND (?2 IS NULL OR project_id = ?2)";

impl Store {
    // ---- endpoints ----

    pub async fn webhook_insert(&self, webhook: Webhook) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.webhook_insert(&webhook))
            .await
    }

    pub async fn webhook_get(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Option<Webhook>, StoreError> {
        let row: Option<WebhookRow> = scope
            .query_as(
                &format!("SELECT * FROM webhooks WHERE {WEBHOOK_IN_SCOPE} AND id = ?3"),
                id,
            )
            .fetch_optional(&self.pool)
            .await?;
        row.map(WebhookRow::into_model).transpose()
    }

    /// A scope's webhooks, oldest first.
    pub async fn webhook_list(&self, scope: Scope<'_>) -> Result<Vec<Webhook>, StoreError> {
        let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
            "SELECT * FROM webhooks WHERE {WEBHOOK_IN_SCOPE} ORDER BY created_at, id"
        ))
        .bind(scope.organization_id())
        .bind(scope.project_id())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(WebhookRow::into_model).collect()
    }

    /// Writes every mutable column back.
    pub async fn webhook_update(&self, webhook: Webhook) -> Result<bool, StoreError> {
        self.transaction(move |tx| tx.webhook_update(&webhook))
            .await
    }

    /// Deletes a webhook with its deliveries and their attempts.
    pub async fn webhook_delete(&self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let (scope, id) = (scope.to_owned_scope(), id.to_owned());
        self.transaction(move |tx| tx.webhook_delete(scope.scope(), &id))
            .await
    }

    // ---- the delivery log ----

    /// Fans out every event still waiting, so that a read of the delivery log shows the
    /// deliveries of every change committed before it, whether or not a dispatcher runs.
    async fn fan_out_waiting(&self) -> Result<(), StoreError> {
        while self.outbox_fan_out(FAN_OUT_BATCH).await? == FAN_OUT_BATCH {}
        Ok(())
    }

    /// A webhook's deliveries, newest first, with the total that matches.
    pub async fn delivery_list(
        &self,
        webhook_id: &str,
        filter: &DeliveryFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<WebhookDelivery>, i64), StoreError> {
        self.fan_out_waiting().await?;
        let status = filter.status.map(DeliveryStatus::as_str);
        let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
             JOIN webhook_events e ON e.id = d.event_id
             WHERE d.webhook_id = ?1 AND (?2 IS NULL OR d.status = ?2)
               AND (?3 IS NULL OR e.event_type = ?3)
             ORDER BY d.seq DESC LIMIT ?4 OFFSET ?5"
        ))
        .bind(webhook_id)
        .bind(status)
        .bind(&filter.event_type)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
             WHERE d.webhook_id = ?1 AND (?2 IS NULL OR d.status = ?2)
               AND (?3 IS NULL OR e.event_type = ?3)",
        )
        .bind(webhook_id)
        .bind(status)
        .bind(&filter.event_type)
        .fetch_one(&self.pool)
        .await?;
        let deliveries = rows
            .into_iter()
            .map(DeliveryRow::into_model)
            .collect::<Result<_, _>>()?;
        Ok((deliveries, total))
    }

    pub async fn delivery_get(
        &self,
        webhook_id: &str,
        id: &str,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        self.fan_out_waiting().await?;
        let row: Option<DeliveryRow> = sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
             JOIN webhook_events e ON e.id = d.event_id
             WHERE d.webhook_id = ? AND d.id = ?"
        ))
        .bind(webhook_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(DeliveryRow::into_model).transpose()
    }

    /// The attempts of these deliveries, in order.
    pub async fn attempt_list(
        &self,
        delivery_ids: &[&str],
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        if delivery_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT * FROM webhook_attempts
             WHERE delivery_id IN (SELECT value FROM json_each(?))
             ORDER BY delivery_id, attempt",
        )
        .bind(json_text(delivery_ids)?)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AttemptRow::into_model).collect()
    }

    // ---- the dispatcher ----

    /// Makes the deliveries of up to `limit` outbox events (see
    /// [`super::Tx::outbox_fan_out`]); returns how many events were fanned out.
    pub async fn outbox_fan_out(&self, limit: usize) -> Result<usize, StoreError> {
        // A read first: most calls find nothing, and need not queue for the writer.
        let waiting: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM webhook_events WHERE fanned_out = 0)")
                .fetch_one(&self.pool)
                .await?;
        if !waiting {
            return Ok(0);
        }
        self.transaction(move |tx| tx.outbox_fan_out(limit)).await
    }

    /// Leases up to `limit` due deliveries of active webhooks until `until` under `token`,
    /// and returns them with what an attempt needs. Rows whose lease ran out (a dispatcher
    /// that stopped mid-way) are due again.
    pub async fn delivery_lease(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        let token = Uuid::new_v4().to_string();
        let leasing = token.clone();
        let leased = self
            .transaction(move |tx| tx.delivery_lease(&leasing, now, until, limit))
            .await?;
        if leased == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<DeliveryJobRow> = sqlx::query_as(
            "SELECT d.id AS delivery_id, d.lease_token, d.attempts, w.id AS webhook_id, w.url,
                    w.transport, w.config, w.sealed_secret, e.organization_id, e.project_id,
                    e.id AS event_id, e.event_type, e.occurred_at, e.payload
             FROM webhook_deliveries d
             JOIN webhooks w ON w.id = d.webhook_id
             JOIN webhook_events e ON e.id = d.event_id
             WHERE d.lease_token = ? ORDER BY d.next_attempt_at",
        )
        .bind(&token)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeliveryJobRow::into_model).collect()
    }

    /// Hands leased deliveries back (delivery id, lease token) without an attempt, so
    /// that they are due at once rather than when the lease runs out.
    pub async fn delivery_release(&self, leased: Vec<(String, String)>) -> Result<(), StoreError> {
        if leased.is_empty() {
            return Ok(());
        }
        self.transaction(move |tx| tx.delivery_release(&leased))
            .await
    }

    /// When the next pending delivery of an active webhook is due (or its lease runs out).
    pub async fn delivery_next_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT MIN(MAX(d.next_attempt_at, COALESCE(d.lease_until, '')))
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.status = 'pending' AND w.active = 1",
        )
        .fetch_one(&self.pool)
        .await?;
        optional_time("webhook_deliveries.next_attempt_at", next.as_deref())
    }

    /// Writes attempts back in one transaction. An outcome whose lease was taken over
    /// meanwhile (it ran out) is dropped: the new holder records its own.
    /// Returns how many were written.
    pub async fn delivery_finish(
        &self,
        outcomes: Vec<DeliveryOutcome>,
    ) -> Result<usize, StoreError> {
        self.transaction(move |tx| tx.delivery_finish(&outcomes))
            .await
    }

    /// Deletes finished deliveries that ended before `before`, and events left without
    /// deliveries. Returns the number of deliveries deleted.
    pub async fn delivery_prune(&self, before: OffsetDateTime) -> Result<usize, StoreError> {
        self.transaction(move |tx| tx.delivery_prune(before)).await
    }
}

impl Tx<'_> {
    // ---- endpoints ----

    pub fn webhook_insert(&mut self, webhook: &Webhook) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO webhooks (id, organization_id, project_id, url, events, sealed_secret,
                                   transport, config, description, active, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                webhook.id,
                webhook.organization_id,
                webhook.project_id,
                webhook.url,
                events_text(&webhook.events)?,
                webhook.sealed_secret,
                webhook.transport,
                json_text(&webhook.config)?,
                webhook.description,
                webhook.active,
                timestamp::format(webhook.created_at),
                timestamp::format(webhook.updated_at),
            ],
        )?;
        self.change(Changed::SUBSCRIPTIONS);
        Ok(())
    }

    /// Writes every mutable column back.
    pub fn webhook_update(&mut self, webhook: &Webhook) -> Result<bool, StoreError> {
        let done = self.execute(
            "UPDATE webhooks SET url = ?, events = ?, sealed_secret = ?, transport = ?, config = ?,
                                 description = ?, active = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
            params![
                webhook.url,
                events_text(&webhook.events)?,
                webhook.sealed_secret,
                webhook.transport,
                json_text(&webhook.config)?,
                webhook.description,
                webhook.active,
                timestamp::format(webhook.updated_at),
                webhook.id,
                webhook.organization_id,
            ],
        )?;
        self.change(Changed::SUBSCRIPTIONS);
        Ok(done == 1)
    }

    /// Deletes a webhook with its deliveries and their attempts.
    pub fn webhook_delete(&mut self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let done = self.execute(
            &format!("DELETE FROM webhooks WHERE {WEBHOOK_IN_SCOPE} AND id = ?3"),
            params![scope.organization_id(), scope.project_id(), id],
        )?;
        self.change(Changed::SUBSCRIPTIONS);
        Ok(done == 1)
    }

    // ---- the outbox ----

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
        self.insert_event(id, occurred_at, event, false)?;
        Ok(true)
    }

    /// Makes the deliveries of up to `limit` outbox events that have none yet: one for
    /// each webhook that subscribes to the event and existed when it occurred, due since
    /// then. Returns the number of events fanned out.
    pub fn outbox_fan_out(&mut self, limit: usize) -> Result<usize, StoreError> {
        let events: Vec<(String, String, Option<String>, String, String)> = self
            .conn()
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
                    self.insert_delivery(&subscription.webhook_id, id, occurred_at, None)?;
                }
            }
            self.execute(
                "UPDATE webhook_events SET fanned_out = 1 WHERE id = ?1",
                [id],
            )?;
        }
        if !events.is_empty() {
            self.queue_deliveries();
        }
        Ok(events.len())
    }

    /// The organization's active webhooks, from memory when no webhook changed since
    /// they were read.
    fn subscriptions(&self, organization_id: &str) -> Result<Arc<[Subscription]>, StoreError> {
        let cache = &self.caches().subscriptions;
        if let Some(known) = cache.get(organization_id) {
            return Ok(known);
        }
        let ticket = cache.ticket();
        let subscriptions: Arc<[Subscription]> = self
            .conn()
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
                    events: json("webhooks.events", &events)?,
                    created_at,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        cache.fill(ticket, organization_id.to_owned(), subscriptions.clone());
        Ok(subscriptions)
    }

    /// Puts `event` in the outbox with its delivery to `webhook_id` alone, whatever that
    /// webhook subscribes to; returns the delivery's id, `None` when the tenant has no
    /// such webhook.
    pub fn outbox_insert_for(
        &mut self,
        id: &str,
        occurred_at: OffsetDateTime,
        event: &Event,
        webhook_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let known: bool = self
            .conn()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = ? AND organization_id = ?)",
            )?
            .query_row(params![webhook_id, event.organization_id], |row| row.get(0))?;
        if !known {
            return Ok(None);
        }
        let occurred_at = self.insert_event(id, occurred_at, event, true)?;
        Ok(Some(self.insert_delivery(
            webhook_id,
            id,
            &occurred_at,
            None,
        )?))
    }

    /// Writes the event row (`fanned_out` when its deliveries are made with it); returns
    /// its time in stored form.
    fn insert_event(
        &mut self,
        id: &str,
        occurred_at: OffsetDateTime,
        event: &Event,
        fanned_out: bool,
    ) -> Result<String, StoreError> {
        let occurred_at = timestamp::format(occurred_at);
        self.execute(
            "INSERT INTO webhook_events (id, organization_id, project_id, event_type, occurred_at,
                                         payload, fanned_out)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            params![
                id,
                event.organization_id,
                event.project_id,
                event.kind.as_str(),
                occurred_at,
                event.data.to_string(),
                fanned_out,
            ],
        )?;
        self.queue_deliveries();
        Ok(occurred_at)
    }

    /// Queues a delivery of `event_id` to `webhook_id`, due at `at` (stored form);
    /// returns its id.
    fn insert_delivery(
        &mut self,
        webhook_id: &str,
        event_id: &str,
        at: &str,
        redelivery_of: Option<&str>,
    ) -> Result<String, StoreError> {
        let id = crate::model::new_id();
        self.execute(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts,
                                             next_attempt_at, redelivery_of, created_at)
             VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)",
            params![id, webhook_id, event_id, at, redelivery_of, at],
        )?;
        self.queue_deliveries();
        Ok(id)
    }

    /// Queues the event of `delivery_id` again for the same webhook; returns the new
    /// delivery's id.
    pub fn delivery_repeat(
        &mut self,
        webhook_id: &str,
        delivery_id: &str,
        at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let event_id: Option<String> = self
            .conn()
            .prepare_cached(
                "SELECT event_id FROM webhook_deliveries WHERE webhook_id = ? AND id = ?",
            )?
            .query_row(params![webhook_id, delivery_id], |row| row.get(0))
            .optional()?;
        let Some(event_id) = event_id else {
            return Ok(None);
        };
        let at = timestamp::format(at);
        let id = self.insert_delivery(webhook_id, &event_id, &at, Some(delivery_id))?;
        Ok(Some(id))
    }

    /// Records that `notice` was given for a certificate; false when it already was.
    pub fn expiry_notice_insert(
        &mut self,
        certificate_id: &str,
        notice: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = self.execute(
            "INSERT INTO certificate_expiry_notices (certificate_id, notice, noticed_at)
             VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            params![certificate_id, notice, timestamp::format(at)],
        )?;
        Ok(done == 1)
    }

    // ---- the dispatcher ----

    /// Leases up to `limit` due deliveries of active webhooks until `until` under
    /// `token`; returns how many. Rows whose lease ran out are due again.
    pub fn delivery_lease(
        &mut self,
        token: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: i64,
    ) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE webhook_deliveries SET lease_token = ?1, lease_until = ?2
             WHERE seq IN (
                 SELECT d.seq FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                 WHERE d.status = 'pending' AND d.next_attempt_at <= ?3
                   AND (d.lease_until IS NULL OR d.lease_until <= ?3) AND w.active = 1
                 ORDER BY d.next_attempt_at LIMIT ?4)",
            params![
                token,
                timestamp::format(until),
                timestamp::format(now),
                limit
            ],
        )
    }

    /// Hands leased deliveries back (delivery id, lease token) without an attempt.
    pub fn delivery_release(&mut self, leased: &[(String, String)]) -> Result<(), StoreError> {
        for (id, token) in leased {
            self.execute(
                "UPDATE webhook_deliveries SET lease_token = NULL, lease_until = NULL
                 WHERE id = ? AND lease_token = ?",
                params![id, token],
            )?;
        }
        Ok(())
    }

    /// Writes attempts back; an outcome whose lease was taken over meanwhile is dropped.
    /// Returns how many were written.
    pub fn delivery_finish(&mut self, outcomes: &[DeliveryOutcome]) -> Result<usize, StoreError> {
        let mut written = 0;
        for o in outcomes {
            let done = self.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
                        last_status_code = ?, last_error = ?, finished_at = ?,
                        lease_token = NULL, lease_until = NULL
                 WHERE id = ? AND lease_token = ?",
                params![
                    o.status.as_str(),
                    o.attempt,
                    timestamp::format(o.next_attempt_at),
                    o.status_code,
                    o.error,
                    optional_time_text(o.finished_at),
                    o.delivery_id,
                    o.lease_token,
                ],
            )?;
            if done != 1 {
                continue;
            }
            self.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms,
                                               status_code, error)
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    o.delivery_id,
                    o.attempt,
                    timestamp::format(o.started_at),
                    int_text(o.duration_ms),
                    o.status_code,
                    o.error,
                ],
            )?;
            written += 1;
        }
        Ok(written)
    }

    /// Deletes finished deliveries that ended before `before`, and events left without
    /// deliveries. Returns the number of deliveries deleted.
    pub fn delivery_prune(&mut self, before: OffsetDateTime) -> Result<usize, StoreError> {
        let before = timestamp::format(before);
        let done = self.execute(
            "DELETE FROM webhook_deliveries
             WHERE status IN ('delivered', 'dead') AND finished_at < ?",
            [&before],
        )?;
        self.execute(
            "DELETE FROM webhook_events WHERE occurred_at < ? AND fanned_out = 1 AND NOT EXISTS
                 (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
            [&before],
        )?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Organization;

    fn at(text: &str) -> OffsetDateTime {
        timestamp::parse(text).unwrap()
    }

    fn t0() -> OffsetDateTime {
        at("2026-01-01T00:00:00.000000Z")
    }

    fn t1() -> OffsetDateTime {
        at("2026-01-01T00:00:10.000000Z")
    }

    fn t2() -> OffsetDateTime {
        at("2026-01-01T00:01:00.000000Z")
    }

    async fn store_with_webhook(dir: &std::path::Path) -> Store {
        let store = Store::open(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .unwrap();
        store
            .organization_insert(Organization {
                id: "org".into(),
                name: "org".into(),
                display_name: None,
                created_at: t0(),
                updated_at: t0(),
            })
            .await
            .unwrap();
        store
            .webhook_insert(Webhook {
                id: "w1".into(),
                organization_id: "org".into(),
                project_id: None,
                url: "https://hooks.example.com/".into(),
                events: vec![EventKind::CertificateIssued],
                sealed_secret: vec![1],
                transport: "http-hmac".into(),
                config: serde_json::Map::new(),
                description: None,
                active: true,
                created_at: t0(),
                updated_at: t0(),
            })
            .await
            .unwrap();
        store
    }

    /// Whether the event was kept.
    fn emit(tx: &mut Tx<'_>, id: &str, kind: EventKind) -> Result<bool, StoreError> {
        let event = Event::new(kind, "org", Some("p1"), serde_json::json!({"n": 1}));
        tx.outbox_insert(id, t0(), &event)
    }

    fn outcome(job: &DeliveryJob) -> DeliveryOutcome {
        DeliveryOutcome {
            delivery_id: job.delivery_id.clone(),
            lease_token: job.lease_token.clone(),
            attempt: job.attempts + 1,
            started_at: t2(),
            duration_ms: 1,
            status_code: Some(200),
            error: None,
            status: DeliveryStatus::Delivered,
            next_attempt_at: t2(),
            finished_at: Some(t2()),
        }
    }

    #[tokio::test]
    async fn webhooks_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_webhook(dir.path()).await;
        let org = Scope::organization("org");
        let mut webhook = store.webhook_get(org, "w1").await.unwrap().unwrap();
        assert_eq!(webhook.events, [EventKind::CertificateIssued]);
        webhook.events.push(EventKind::RotationFailed);
        webhook
            .config
            .insert("headers".into(), serde_json::json!({"X-Team": "pki"}));
        assert!(store.webhook_update(webhook.clone()).await.unwrap());
        assert_eq!(store.webhook_list(org).await.unwrap(), [webhook]);
        // A project's scope holds that project's webhooks only.
        let project = Scope::project("org", "p1");
        assert!(store.webhook_get(project, "w1").await.unwrap().is_none());
        assert!(!store.webhook_delete(project, "w1").await.unwrap());
    }

    #[tokio::test]
    async fn only_subscribers_get_deliveries_and_a_rollback_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_webhook(dir.path()).await;
        let kept = store
            .transaction(|tx| {
                let kept = [
                    emit(tx, "e0", EventKind::KeyRotated)?,
                    emit(tx, "e1", EventKind::CertificateIssued)?,
                ];
                // Fails after its writes: all of them roll back.
                Err::<(), _>(StoreError::Backend(format!("{kept:?}").into()))
            })
            .await;
        assert_eq!(
            kept.unwrap_err().to_string(),
            "database error: [false, true]"
        );
        assert_eq!(store.outbox_fan_out(10).await.unwrap(), 0);
        assert!(
            store
                .delivery_lease(t1(), t2(), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(events, 0, "an event without subscribers is not stored");
    }

    #[tokio::test]
    async fn a_lease_that_runs_out_makes_the_delivery_due_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_webhook(dir.path()).await;
        store
            .transaction(|tx| emit(tx, "e1", EventKind::CertificateIssued))
            .await
            .unwrap();
        assert_eq!(store.outbox_fan_out(10).await.unwrap(), 1);

        // Handed back unstarted (a clean shutdown), it is due at once.
        let leased = store.delivery_lease(t0(), t1(), 10).await.unwrap();
        store
            .delivery_release(vec![(
                leased[0].delivery_id.clone(),
                leased[0].lease_token.clone(),
            )])
            .await
            .unwrap();

        // A dispatcher leases it until T1, then stops (a crash).
        let first = store.delivery_lease(t0(), t1(), 10).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].event_id, "e1");
        assert_eq!(first[0].event_type, EventKind::CertificateIssued);
        assert_eq!(first[0].payload, r#"{"n":1}"#);
        assert!(
            store
                .delivery_lease(t0(), t1(), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.delivery_next_due().await.unwrap(), Some(t1()));

        // After T1 another takes it over; the first one's late outcome is dropped.
        let second = store.delivery_lease(t1(), t2(), 10).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_ne!(second[0].lease_token, first[0].lease_token);
        assert_eq!(
            store
                .delivery_finish(vec![outcome(&first[0])])
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .delivery_finish(vec![outcome(&second[0])])
                .await
                .unwrap(),
            1
        );
        let (deliveries, total) = store
            .delivery_list("w1", &DeliveryFilter::default(), 0, 10)
            .await
            .unwrap();
        let delivered = &deliveries[0];
        assert_eq!(
            (total, delivered.status, delivered.attempts),
            (1, DeliveryStatus::Delivered, 1)
        );
        assert_eq!(delivered.data["n"], 1);
        assert_eq!(delivered.finished_at, Some(t2()));
        let attempts = store.attempt_list(&["x", &delivered.id]).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].status_code, Some(200));
        assert!(
            store
                .delivery_lease(t2(), t2(), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
