//! Webhook endpoints, the outbox of events, deliveries with their leases and attempts,
//! and the certificate expiry notices already given.

use sqlx::{FromRow, Sqlite};
use uuid::Uuid;

use super::{Store, WriteTx};

/// A webhook endpoint. `sealed_secret` is opened only to sign a delivery.
#[derive(Debug, Clone, FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub organization_id: String,
    /// `None`: the events of every project of the organization.
    pub project_id: Option<String>,
    pub url: String,
    /// The subscribed event types, a JSON array.
    pub events: String,
    pub sealed_secret: Vec<u8>,
    pub transport: String,
    /// Per-endpoint transport settings, a JSON object.
    pub config: String,
    pub description: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// An event to put in the outbox.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub organization_id: &'a str,
    pub project_id: Option<&'a str>,
    pub event_type: &'a str,
    pub occurred_at: &'a str,
    /// The event's data, a JSON object.
    pub payload: &'a str,
}

/// One event for one webhook, as the delivery log shows it.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub redelivery_of: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    pub delivery_id: String,
    pub attempt: i64,
    pub started_at: String,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Default)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    pub event_type: Option<String>,
}

/// A leased delivery with everything one attempt needs.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryJob {
    pub delivery_id: String,
    pub lease_token: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub webhook_id: String,
    pub url: String,
    pub transport: String,
    pub config: String,
    pub sealed_secret: Vec<u8>,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: String,
    pub payload: String,
}

/// The result of one attempt, written back under the lease it was made with.
#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    pub delivery_id: String,
    pub lease_token: String,
    /// This attempt's number, from 1.
    pub attempt: i64,
    pub started_at: String,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    /// `pending` (retry at `next_attempt_at`), `delivered` or `dead`.
    pub status: &'static str,
    pub next_attempt_at: String,
    pub finished_at: Option<String>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_id, e.event_type, e.occurred_at, \
     e.payload, d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, \
     d.redelivery_of, d.created_at, d.finished_at";

impl Store {
    // ---- endpoints ----

    pub async fn webhook_insert(&self, row: &WebhookRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO webhooks (id, organization_id, project_id, url, events, sealed_secret,
                                   transport, config, description, active, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.project_id)
        .bind(&row.url)
        .bind(&row.events)
        .bind(&row.sealed_secret)
        .bind(&row.transport)
        .bind(&row.config)
        .bind(&row.description)
        .bind(row.active)
        .bind(&row.created_at)
        .bind(&row.updated_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    pub async fn webhook_get(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<Option<WebhookRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM webhooks WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// An organization's webhooks, oldest first; only one project's when `project_id` is set.
    pub async fn webhook_list(
        &self,
        organization_id: &str,
        project_id: Option<&str>,
    ) -> Result<Vec<WebhookRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT * FROM webhooks WHERE organization_id = ?1 AND (?2 IS NULL OR project_id = ?2)
             ORDER BY created_at, id",
        )
        .bind(organization_id)
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Writes every mutable column back.
    pub async fn webhook_update(&self, row: &WebhookRow) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE webhooks SET url = ?, events = ?, sealed_secret = ?, transport = ?, config = ?,
                                 description = ?, active = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
        )
        .bind(&row.url)
        .bind(&row.events)
        .bind(&row.sealed_secret)
        .bind(&row.transport)
        .bind(&row.config)
        .bind(&row.description)
        .bind(row.active)
        .bind(&row.updated_at)
        .bind(&row.id)
        .bind(&row.organization_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a webhook with its deliveries and their attempts.
    pub async fn webhook_delete(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM webhooks WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- the delivery log ----

    /// A webhook's deliveries, newest first, with the total that matches.
    pub async fn delivery_list(
        &self,
        webhook_id: &str,
        filter: &DeliveryFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<DeliveryRow>, i64), sqlx::Error> {
        let rows = sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
             JOIN webhook_events e ON e.id = d.event_id
             WHERE d.webhook_id = ?1 AND (?2 IS NULL OR d.status = ?2)
               AND (?3 IS NULL OR e.event_type = ?3)
             ORDER BY d.seq DESC LIMIT ?4 OFFSET ?5"
        ))
        .bind(webhook_id)
        .bind(&filter.status)
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
        .bind(&filter.status)
        .bind(&filter.event_type)
        .fetch_one(&self.pool)
        .await?;
        Ok((rows, total))
    }

    pub async fn delivery_get(
        &self,
        webhook_id: &str,
        id: &str,
    ) -> Result<Option<DeliveryRow>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
             JOIN webhook_events e ON e.id = d.event_id
             WHERE d.webhook_id = ? AND d.id = ?"
        ))
        .bind(webhook_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// The attempts of these deliveries, in order.
    pub async fn attempt_list(
        &self,
        delivery_ids: &[&str],
    ) -> Result<Vec<AttemptRow>, sqlx::Error> {
        if delivery_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(delivery_ids).unwrap_or_else(|_| "[]".into());
        sqlx::query_as(
            "SELECT * FROM webhook_attempts
             WHERE delivery_id IN (SELECT value FROM json_each(?))
             ORDER BY delivery_id, attempt",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
    }

    // ---- the dispatcher ----

    /// Leases up to `limit` due deliveries of active webhooks until `until` under `token`,
    /// and returns them with what an attempt needs. Rows whose lease ran out (a dispatcher
    /// that stopped mid-way) are due again.
    pub async fn delivery_lease(
        &self,
        now: &str,
        until: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryJob>, sqlx::Error> {
        let token = Uuid::new_v4().to_string();
        let leased = sqlx::query(
            "UPDATE webhook_deliveries SET lease_token = ?1, lease_until = ?2
             WHERE seq IN (
                 SELECT d.seq FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                 WHERE d.status = 'pending' AND d.next_attempt_at <= ?3
                   AND (d.lease_until IS NULL OR d.lease_until <= ?3) AND w.active = 1
                 ORDER BY d.next_attempt_at LIMIT ?4)",
        )
        .bind(&token)
        .bind(until)
        .bind(now)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        if leased.rows_affected() == 0 {
            return Ok(Vec::new());
        }
        sqlx::query_as(
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
        .await
    }

    /// Hands leased deliveries back (delivery id, lease token) without an attempt, so
    /// that they are due at once rather than when the lease runs out.
    pub async fn delivery_release(&self, leased: &[(String, String)]) -> Result<(), sqlx::Error> {
        if leased.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for (id, token) in leased {
            sqlx::query(
                "UPDATE webhook_deliveries SET lease_token = NULL, lease_until = NULL
                 WHERE id = ? AND lease_token = ?",
            )
            .bind(id)
            .bind(token)
            .execute(tx.conn())
            .await?;
        }
        tx.commit().await
    }

    /// When the next pending delivery of an active webhook is due (or its lease runs out).
    pub async fn delivery_next_due(&self) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT MIN(MAX(d.next_attempt_at, COALESCE(d.lease_until, '')))
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.status = 'pending' AND w.active = 1",
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Writes attempts back in one transaction. An outcome whose lease was taken over
    /// meanwhile (it ran out) is dropped: the new holder records its own.
    /// Returns how many were written.
    pub async fn delivery_finish(
        &self,
        outcomes: &[DeliveryOutcome],
    ) -> Result<usize, sqlx::Error> {
        let mut tx = self.write().await?;
        let mut written = 0;
        for o in outcomes {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
                        last_status_code = ?, last_error = ?, finished_at = ?,
                        lease_token = NULL, lease_until = NULL
                 WHERE id = ? AND lease_token = ?",
            )
            .bind(o.status)
            .bind(o.attempt)
            .bind(&o.next_attempt_at)
            .bind(o.status_code)
            .bind(&o.error)
            .bind(&o.finished_at)
            .bind(&o.delivery_id)
            .bind(&o.lease_token)
            .execute(tx.conn())
            .await?;
            if done.rows_affected() != 1 {
                continue;
            }
            sqlx::query(
                "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms,
                                               status_code, error)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&o.delivery_id)
            .bind(o.attempt)
            .bind(&o.started_at)
            .bind(o.duration_ms)
            .bind(o.status_code)
            .bind(&o.error)
            .execute(tx.conn())
            .await?;
            written += 1;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Deletes finished deliveries that ended before `before`, and events left without
    /// deliveries. Returns the number of deliveries deleted.
    pub async fn delivery_prune(&self, before: &str) -> Result<u64, sqlx::Error> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries
             WHERE status IN ('delivered', 'dead') AND finished_at < ?",
        )
        .bind(before)
        .execute(tx.conn())
        .await?;
        sqlx::query(
            "DELETE FROM webhook_events WHERE occurred_at < ? AND NOT EXISTS
                 (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
        )
        .bind(before)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

impl WriteTx {
    /// Puts `event` in the outbox for every active webhook of its tenant that subscribes
    /// to its type (or only for `webhook_id`, whatever it subscribes to). Nothing is
    /// written when no webhook wants it. Returns the ids of the deliveries queued.
    pub async fn outbox_insert(
        &mut self,
        event: NewEvent<'_>,
        webhook_id: Option<&str>,
    ) -> Result<Vec<String>, sqlx::Error> {
        let webhooks: Vec<String> = match webhook_id {
            Some(id) => {
                sqlx::query_scalar("SELECT id FROM webhooks WHERE id = ? AND organization_id = ?")
                    .bind(id)
                    .bind(event.organization_id)
                    .fetch_all(self.conn())
                    .await?
            }
            None => {
                sqlx::query_scalar(
                    "SELECT w.id FROM webhooks w
                 WHERE w.organization_id = ?1 AND w.active = 1
                   AND (w.project_id IS NULL OR w.project_id = ?2)
                   AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = ?3)",
                )
                .bind(event.organization_id)
                .bind(event.project_id)
                .bind(event.event_type)
                .fetch_all(self.conn())
                .await?
            }
        };
        if webhooks.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(
            "INSERT INTO webhook_events (id, organization_id, project_id, event_type, occurred_at,
                                         payload)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(event.id)
        .bind(event.organization_id)
        .bind(event.project_id)
        .bind(event.event_type)
        .bind(event.occurred_at)
        .bind(event.payload)
        .execute(self.conn())
        .await?;
        let mut deliveries = Vec::with_capacity(webhooks.len());
        for webhook in &webhooks {
            deliveries
                .push(insert_delivery(self, webhook, event.id, event.occurred_at, None).await?);
        }
        self.queued_deliveries = true;
        Ok(deliveries)
    }

    /// Queues the event of `delivery_id` again for the same webhook; returns the new
    /// delivery's id.
    pub async fn delivery_repeat(
        &mut self,
        webhook_id: &str,
        delivery_id: &str,
        at: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let event_id: Option<String> = sqlx::query_scalar(
            "SELECT event_id FROM webhook_deliveries WHERE webhook_id = ? AND id = ?",
        )
        .bind(webhook_id)
        .bind(delivery_id)
        .fetch_optional(self.conn())
        .await?;
        let Some(event_id) = event_id else {
            return Ok(None);
        };
        let id = insert_delivery(self, webhook_id, &event_id, at, Some(delivery_id)).await?;
        self.queued_deliveries = true;
        Ok(Some(id))
    }

    /// Records that `notice` was given for a certificate; false when it already was.
    pub async fn expiry_notice_insert(
        &mut self,
        certificate_id: &str,
        notice: &str,
        at: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO certificate_expiry_notices (certificate_id, notice, noticed_at)
             VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(certificate_id)
        .bind(notice)
        .bind(at)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

async fn insert_delivery(
    tx: &mut WriteTx,
    webhook_id: &str,
    event_id: &str,
    at: &str,
    redelivery_of: Option<&str>,
) -> Result<String, sqlx::Error> {
    let id = Uuid::new_v4().to_string();
    sqlx::query::<Sqlite>(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts,
                                         next_attempt_at, redelivery_of, created_at)
         VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)",
    )
    .bind(&id)
    .bind(webhook_id)
    .bind(event_id)
    .bind(at)
    .bind(redelivery_of)
    .bind(at)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Organization;

    const T0: &str = "2026-01-01T00:00:00.000000Z";
    const T1: &str = "2026-01-01T00:00:10.000000Z";
    const T2: &str = "2026-01-01T00:01:00.000000Z";

    async fn store_with_webhook(dir: &std::path::Path) -> Store {
        let store = Store::open(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .unwrap();
        store
            .organization_insert(&Organization {
                id: "org".into(),
                name: "org".into(),
                display_name: None,
                created_at: crate::timestamp::parse(T0).unwrap(),
                updated_at: crate::timestamp::parse(T0).unwrap(),
            })
            .await
            .unwrap();
        store
            .webhook_insert(&WebhookRow {
                id: "w1".into(),
                organization_id: "org".into(),
                project_id: None,
                url: "https://hooks.example.com/".into(),
                events: r#"["certificate.issued"]"#.into(),
                sealed_secret: vec![1],
                transport: "http-hmac".into(),
                config: "{}".into(),
                description: None,
                active: true,
                created_at: T0.into(),
                updated_at: T0.into(),
            })
            .await
            .unwrap();
        store
    }

    fn event<'a>(id: &'a str, event_type: &'a str) -> NewEvent<'a> {
        NewEvent {
            id,
            organization_id: "org",
            project_id: Some("p1"),
            event_type,
            occurred_at: T0,
            payload: "{}",
        }
    }

    fn outcome(job: &DeliveryJob) -> DeliveryOutcome {
        DeliveryOutcome {
            delivery_id: job.delivery_id.clone(),
            lease_token: job.lease_token.clone(),
            attempt: job.attempts + 1,
            started_at: T2.into(),
            duration_ms: 1,
            status_code: Some(200),
            error: None,
            status: "delivered",
            next_attempt_at: T2.into(),
            finished_at: Some(T2.into()),
        }
    }

    #[tokio::test]
    async fn only_subscribers_get_deliveries_and_a_rollback_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_webhook(dir.path()).await;
        let mut tx = store.write().await.unwrap();
        assert_eq!(
            tx.outbox_insert(event("e0", "key.rotated"), None)
                .await
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            tx.outbox_insert(event("e1", "certificate.issued"), None)
                .await
                .unwrap()
                .len(),
            1
        );
        drop(tx);
        assert!(store.delivery_lease(T1, T2, 10).await.unwrap().is_empty());
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
        let mut tx = store.write().await.unwrap();
        tx.outbox_insert(event("e1", "certificate.issued"), None)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        // Handed back unstarted (a clean shutdown), it is due at once.
        let leased = store.delivery_lease(T0, T1, 10).await.unwrap();
        store
            .delivery_release(&[(leased[0].delivery_id.clone(), leased[0].lease_token.clone())])
            .await
            .unwrap();

        // A dispatcher leases it until T1, then stops (a crash).
        let first = store.delivery_lease(T0, T1, 10).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].event_id, "e1");
        assert!(store.delivery_lease(T0, T1, 10).await.unwrap().is_empty());
        assert_eq!(
            store.delivery_next_due().await.unwrap().as_deref(),
            Some(T1)
        );

        // After T1 another takes it over; the first one's late outcome is dropped.
        let second = store.delivery_lease(T1, T2, 10).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_ne!(second[0].lease_token, first[0].lease_token);
        assert_eq!(
            store.delivery_finish(&[outcome(&first[0])]).await.unwrap(),
            0
        );
        assert_eq!(
            store.delivery_finish(&[outcome(&second[0])]).await.unwrap(),
            1
        );
        let (rows, total) = store
            .delivery_list("w1", &DeliveryFilter::default(), 0, 10)
            .await
            .unwrap();
        assert_eq!(
            (total, rows[0].status.as_str(), rows[0].attempts),
            (1, "delivered", 1)
        );
        assert_eq!(
            store.attempt_list(&["x", &rows[0].id]).await.unwrap().len(),
            1
        );
        assert!(store.delivery_lease(T2, T2, 10).await.unwrap().is_empty());
    }
}
