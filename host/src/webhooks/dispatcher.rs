//! The dispatcher: delivers the outbox, at least once.
//!
//! It leases due deliveries (a lease that runs out makes a row due again, so a crash
//! or a kill loses nothing), calls each endpoint's webhook-transport plugin, and writes
//! every attempt back. A failed attempt is retried with exponential backoff and jitter;
//! after `max_attempts` the delivery is `dead` until someone redelivers it. A commit that
//! queues deliveries wakes it; it also polls, for work other nodes queued and retries
//! that fall due.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::WebhooksConfig;
use crate::crypto::MasterKey;
use crate::model::webhook::{DeliveryJob, DeliveryOutcome, DeliveryStatus};
use crate::plugins::webhook_transport::{Endpoint, Event as WireEvent, Tenant};
use crate::plugins::{PluginError, Registry};
use crate::store::{Store, StoreError};

/// How the dispatcher paces itself (from `[webhooks]`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: usize,
    /// Rows leased at once, queued locally while earlier ones are in flight.
    pub batch: usize,
    pub max_attempts: u32,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub lease: Duration,
    pub poll: Duration,
}

impl From<&WebhooksConfig> for Settings {
    fn from(c: &WebhooksConfig) -> Self {
        Self {
            concurrency: c.concurrency,
            batch: c.concurrency * 4,
            max_attempts: c.max_attempts,
            retry_initial: Duration::from_millis(c.retry_initial_ms),
            retry_max: Duration::from_secs(c.retry_max_secs),
            lease: Duration::from_secs(c.lease_secs),
            poll: Duration::from_millis(c.poll_ms),
        }
    }
}

pub struct Dispatcher {
    store: Store,
    master: Arc<MasterKey>,
    plugins: Arc<Registry>,
    settings: Settings,
}

/// Why an attempt got no answer, and whether trying again can help.
struct Failure {
    message: String,
    retry: bool,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        master: Arc<MasterKey>,
        plugins: Arc<Registry>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            master,
            plugins,
            settings,
        }
    }

    /// Delivers until `stop` turns true, then hands back the deliveries it leased but
    /// did not start, lets the attempts in flight finish and records them. Dropped
    /// instead (a crash), it loses its in-flight attempts with their leases, and they
    /// are made again once the leases run out.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let wake = self.store.outbox_signal();
        let concurrency = self.settings.concurrency.max(1);
        let mut queue: VecDeque<DeliveryJob> = VecDeque::new();
        let mut running: JoinSet<DeliveryOutcome> = JoinSet::new();
        let mut finished: Vec<DeliveryOutcome> = Vec::new();
        // A dropped sender stops the loop too.
        let mut stopping = false;
        while !stopping && !*stop.borrow() {
            if queue.len() <= concurrency / 2 {
                let room = self.settings.batch.saturating_sub(queue.len()).max(1);
                match self.lease(room).await {
                    Ok(jobs) => queue.extend(jobs),
                    Err(err) => tracing::warn!(error = %err, "cannot lease webhook deliveries"),
                }
            }
            while running.len() < concurrency {
                let Some(job) = queue.pop_front() else { break };
                let me = self.clone();
                running.spawn(async move { me.attempt(job).await });
            }
            if running.is_empty() {
                let idle = self.idle_time().await;
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(idle) => {}
                    changed = stop.changed() => stopping = changed.is_err(),
                }
                continue;
            }
            tokio::select! {
                Some(done) = running.join_next() => {
                    finished.extend(done.ok());
                    while let Some(done) = running.try_join_next() {
                        finished.extend(done.ok());
                    }
                }
                () = wake.notified() => {}
                changed = stop.changed() => stopping = changed.is_err(),
            }
            self.record(&mut finished).await;
        }
        let unstarted: Vec<(String, String)> = queue
            .drain(..)
            .map(|job| (job.delivery_id, job.lease_token))
            .collect();
        if let Err(err) = self.store.delivery_release(unstarted).await {
            tracing::warn!(error = %err, "cannot hand back webhook deliveries");
        }
        while let Some(done) = running.join_next().await {
            finished.extend(done.ok());
        }
        self.record(&mut finished).await;
    }

    /// Writes finished attempts back. On failure their leases run out and the attempts
    /// are made again.
    async fn record(&self, finished: &mut Vec<DeliveryOutcome>) {
        if finished.is_empty() {
            return;
        }
        if let Err(err) = self.store.delivery_finish(std::mem::take(finished)).await {
            tracing::warn!(error = %err, "cannot record webhook attempts");
        }
    }

    /// Makes the deliveries of new outbox events, then leases up to `limit` due ones.
    async fn lease(&self, limit: usize) -> Result<Vec<DeliveryJob>, StoreError> {
        if let Err(err) = self.store.outbox_fan_out(limit).await {
            tracing::warn!(error = %err, "cannot make the deliveries of new webhook events");
        }
        let now = OffsetDateTime::now_utc();
        self.store
            .delivery_lease(
                now,
                now + self.settings.lease,
                i64::try_from(limit).unwrap_or(i64::MAX),
            )
            .await
    }

    /// How long to sleep with nothing in flight: until the next retry falls due, at most
    /// the poll interval.
    async fn idle_time(&self) -> Duration {
        let poll = self.settings.poll;
        let at = match self.store.delivery_next_due().await {
            Ok(Some(at)) => at,
            Ok(None) => return poll,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the webhook outbox");
                return poll;
            }
        };
        let wait = at - OffsetDateTime::now_utc();
        Duration::try_from(wait)
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_millis(5), poll)
    }

    /// One attempt; the outcome is written back by the loop.
    async fn attempt(&self, job: DeliveryJob) -> DeliveryOutcome {
        let started = OffsetDateTime::now_utc();
        let clock = Instant::now();
        let result = self.deliver(&job).await;
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        let attempt = job.attempts + 1;
        let (status_code, error, retry) = match result {
            Ok(code) if (200..300).contains(&code) => (Some(code), None, false),
            Ok(code) => (
                Some(code),
                Some(format!("the endpoint answered HTTP {code}")),
                true,
            ),
            Err(failure) => (None, Some(failure.message), failure.retry),
        };
        let now = OffsetDateTime::now_utc();
        let (status, next_attempt_at, finished_at) = if error.is_none() {
            (DeliveryStatus::Delivered, now, Some(now))
        } else if !retry || attempt >= self.settings.max_attempts {
            (DeliveryStatus::Dead, now, Some(now))
        } else {
            let wait = backoff(attempt, &self.settings, rand::random::<f64>());
            (DeliveryStatus::Pending, now + wait, None)
        };
        if let Some(error) = &error {
            tracing::info!(
                delivery = %job.delivery_id, webhook = %job.webhook_id,
                host = %super::url_host(&job.url), attempt, status = status.as_str(),
                error = %error, "webhook delivery failed"
            );
        }
        DeliveryOutcome {
            delivery_id: job.delivery_id,
            lease_token: job.lease_token,
            attempt,
            started_at: started,
            duration_ms,
            status_code,
            error,
            status,
            next_attempt_at,
            finished_at,
        }
    }

    /// Calls the endpoint's transport; any HTTP status is an answer.
    async fn deliver(&self, job: &DeliveryJob) -> Result<u16, Failure> {
        let transport = self
            .plugins
            .webhook_transport(&job.transport)
            .ok_or_else(|| Failure {
                message: format!("the transport plugin '{}' is not loaded", job.transport),
                retry: true,
            })?;
        let secret =
            super::open_secret(&self.master, &job.webhook_id, &job.sealed_secret).map_err(|err| {
                tracing::error!(webhook = %job.webhook_id, error = %err, "cannot open a webhook secret");
                Failure {
                    message: "the signing secret cannot be read".into(),
                    retry: false,
                }
            })?;
        let event = WireEvent {
            id: job.event_id.clone(),
            event_type: job.event_type.as_str().to_owned(),
            timestamp: u64::try_from(job.occurred_at.unix_timestamp()).unwrap_or_default(),
            tenant: Tenant {
                organization_id: job.organization_id.clone(),
                project_id: job.project_id.clone(),
            },
            payload: job.payload.clone(),
        };
        let endpoint = Endpoint {
            url: job.url.clone(),
            secret: Some(secret),
            config: job.config.clone(),
        };
        match transport.deliver(&event, &endpoint).await {
            Ok(delivery) => Ok(delivery.status_code),
            Err(err) => Err(Failure {
                retry: !matches!(
                    err,
                    PluginError::Invalid { .. } | PluginError::Denied { .. }
                ),
                message: err.to_string(),
            }),
        }
    }
}

/// The wait before attempt `attempt + 1`: `retry_initial * 2^(attempt-1)`, capped at
/// `retry_max`, then scaled by a random factor in [0.5, 1.0) so that endpoints that
/// failed together do not retry together. `unit` is a random number in [0, 1).
pub fn backoff(attempt: u32, settings: &Settings, unit: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = settings
        .retry_initial
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(settings.retry_max);
    full.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from(&WebhooksConfig::default())
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let s = settings();
        assert_eq!(backoff(1, &s, 0.999_999).as_millis(), 4_999);
        assert_eq!(backoff(1, &s, 0.0), Duration::from_millis(2_500));
        assert_eq!(backoff(2, &s, 0.0), Duration::from_millis(5_000));
        assert_eq!(backoff(4, &s, 0.0), Duration::from_millis(20_000));
        assert_eq!(backoff(40, &s, 0.0), Duration::from_secs(1_800));
        assert!(backoff(40, &s, 1.0) <= s.retry_max);
    }
}
