//! The pushes themselves: the queue worker, one push through a plugin, how a
//! failure is recorded and retried, and the scan for time-driven triggers.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::{PushFailure, Rotation, Trigger, config_text};
use crate::audit::{AuditEvent, Outcome, Severity};
use crate::auth::{Caller, Principal};
use crate::model::rotation::{RunProgress, RunReason, RunStatus};
use crate::model::{Certificate, RotationConfig, RotationRun, RotationTarget};
use crate::plugins::Tenant;
use crate::plugins::rotation_target::{Bundle, Receipt};
use crate::store::Scope;
use crate::webhooks::{self, Event, EventKind};
use crate::{Error, Result, timestamp};

/// How long a claimed push may run before another worker may take it again.
const LEASE: Duration = Duration::minutes(5);
/// Longest sleep of the queue worker between looks at the queue.
const IDLE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long the scan leaves a certificate alone after a renewal it asked for failed,
/// or while it has nothing to do.
const QUIET: Duration = Duration::hours(1);

/// The serial as the bundle carries it: lowercase hex without separators.
fn bundle_serial(serial: Option<&str>) -> String {
    serial
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Wait before attempt number `attempt` (the first retry is attempt 2): the base,
/// doubled for each earlier retry, at most the maximum.
pub fn backoff(config: &crate::config::RotationConfig, attempt: u32) -> std::time::Duration {
    let doublings = attempt.saturating_sub(2).min(30);
    let secs = config
        .retry_base_secs
        .saturating_mul(1u64 << doublings)
        .min(config.retry_max_secs);
    std::time::Duration::from_secs(secs)
}

impl Rotation {
    /// Runs queued pushes until the task is dropped: up to `concurrency` at once,
    /// each on its own task, so that a slow or dead target holds up nothing else.
    pub async fn run_queue(self: Arc<Self>) {
        loop {
            let wait = match self.dispatch().await {
                Ok(wait) => wait,
                Err(err) => {
                    tracing::warn!(error = %err, "rotation queue: cannot read the queue; retrying");
                    std::time::Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = self.wakeup.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Starts the due pushes there are permits for; returns how long to wait
    /// before looking again.
    async fn dispatch(self: &Arc<Self>) -> Result<std::time::Duration> {
        let now = OffsetDateTime::now_utc();
        self.store.rotation_runs_release_expired(now).await?;
        let free = self.permits.available_permits();
        if free > 0 {
            let claimed = self
                .store
                .rotation_runs_claim(now, now + LEASE, i64::try_from(free).unwrap_or(1))
                .await?;
            for run in claimed {
                let permit = self.permits.clone().acquire_owned().await;
                let rotation = self.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    rotation.execute(run).await;
                    // A permit is free again and more may be due.
                    rotation.wakeup.notify_one();
                });
            }
        }
        let next = self.store.rotation_runs_next_due().await?;
        Ok(match next {
            Some(at) if at > now => std::time::Duration::try_from(at - now)
                .unwrap_or(IDLE_WAIT)
                .clamp(std::time::Duration::from_millis(20), IDLE_WAIT),
            // Due already but no permit free: a finishing push wakes the worker.
            Some(_) if self.permits.available_permits() == 0 => IDLE_WAIT,
            Some(_) => std::time::Duration::from_millis(20),
            None => IDLE_WAIT,
        })
    }

    /// One claimed push, start to end.
    pub async fn execute(&self, mut run: RotationRun) {
        let started = Instant::now();
        let outcome = self.push(&run).await;
        run.progress.finished_at = Some(timestamp::now());
        run.progress.duration_ms =
            Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        let recorded = match outcome {
            Ok(receipt) => self.record_success(run, receipt).await,
            Err(failure) => self.record_rotation_failure(run, failure).await,
        };
        if let Err(err) = recorded {
            tracing::error!(error = %err, "rotation: cannot record the outcome of a push");
        }
    }

    async fn record_success(&self, mut run: RotationRun, receipt: Receipt) -> Result<()> {
        run.status = RunStatus::Succeeded;
        run.progress.error = None;
        run.progress.location = Some(receipt.location);
        run.progress.destination_version = receipt.version;
        self.store.rotation_run_finish(run.clone()).await?;
        self.store
            .rotation_target_record_outcome(
                &run.target_id,
                RunStatus::Succeeded,
                run.progress.finished_at.unwrap_or_else(timestamp::now),
                None,
            )
            .await?;
        tracing::info!(
            target_id = %run.target_id, certificate = %run.certificate_id,
            duration_ms = run.progress.duration_ms, "rotation push succeeded"
        );
        Ok(())
    }

    /// Records a failed push: the history entry with its reason, the target's last
    /// outcome, and a retry with exponential backoff when the outside world caused
    /// it and attempts remain.
    /// Every failed push passes through here, so this is where `rotation.failed` is
    /// emitted (once per failed attempt, saying whether a retry follows).
    pub async fn record_rotation_failure(
        &self,
        mut run: RotationRun,
        failure: PushFailure,
    ) -> Result<()> {
        run.status = RunStatus::Failed;
        run.progress.error = Some(failure.message.clone());
        self.store.rotation_run_finish(run.clone()).await?;
        self.store
            .rotation_target_record_outcome(
                &run.target_id,
                RunStatus::Failed,
                run.progress.finished_at.unwrap_or_else(timestamp::now),
                Some(&failure.message),
            )
            .await?;
        let retry = failure.retry
            && run.attempt < self.config.max_attempts
            && !self
                .store
                .rotation_target_has_pending(&run.target_id)
                .await?;
        tracing::warn!(
            target_id = %run.target_id, certificate = %run.certificate_id, attempt = run.attempt,
            retry, error = %failure.message, "rotation push failed"
        );
        self.announce_failure(&run, &failure, retry).await;
        if retry {
            let attempt = run.attempt + 1;
            let mut wait = backoff(&self.config, attempt);
            if let Some(after) = failure.after_seconds {
                wait = wait.max(std::time::Duration::from_secs(u64::from(after)));
            }
            let now = OffsetDateTime::now_utc();
            let next = RotationRun {
                id: uuid::Uuid::new_v4().to_string(),
                reason: RunReason::Retry,
                status: RunStatus::Pending,
                attempt,
                next_attempt_at: now + wait,
                progress: RunProgress::default(),
                created_at: now,
                ..run
            };
            self.store.rotation_run_insert(next).await?;
            self.wakeup.notify_one();
        }
        Ok(())
    }

    /// Emits `rotation.failed`. The history entry is already written; a failure to queue
    /// the event is logged and does not undo it.
    async fn announce_failure(&self, run: &RotationRun, failure: &PushFailure, retry: bool) {
        let certificate = match self
            .store
            .certificate_get(
                Scope::organization(&run.organization_id),
                &run.certificate_id,
            )
            .await
        {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "rotation.failed: cannot read the certificate");
                return;
            }
        };
        let event = Event::new(
            EventKind::RotationFailed,
            &run.organization_id,
            Some(&certificate.project_id),
            json!({
                "certificateId": run.certificate_id, "commonName": certificate.common_name,
                "serialNumber": run.serial_number, "targetId": run.target_id,
                "target": run.target_name, "targetType": run.target_type,
                "attempt": run.attempt, "willRetry": retry, "error": failure.message,
            }),
        );
        if let Err(err) = webhooks::emit_now(&self.store, event).await {
            tracing::warn!(error = %err, "rotation.failed: cannot queue the webhook event");
        }
    }

    /// Builds the bundle and calls the target's plugin.
    async fn push(&self, run: &RotationRun) -> std::result::Result<Receipt, PushFailure> {
        let internal = |err: Error| {
            tracing::error!(error = %err, run = %run.id, "rotation: cannot prepare a push");
            PushFailure::permanent("internal error while preparing the push")
        };
        let target = self
            .store
            .rotation_target_get(Scope::organization(&run.organization_id), &run.target_id)
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| PushFailure::permanent("the target no longer exists"))?;
        let certificate = self
            .store
            .certificate_get(
                Scope::organization(&run.organization_id),
                &run.certificate_id,
            )
            .await
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| PushFailure::permanent("the certificate no longer exists"))?;
        let plugin = self
            .plugins
            .rotation_target(&target.target_type)
            .ok_or_else(|| {
                PushFailure::permanent(format!(
                    "no rotation-target plugin named '{}' is loaded",
                    target.target_type
                ))
            })?;
        let key_pem = if run.include_private_key {
            let der = self
                .pki
                .private_key_der(&certificate)
                .map_err(internal)?
                .ok_or_else(|| PushFailure::permanent("the certificate's key is not kept here"))?;
            Some(crate::pki::pem_encode("PRIVATE KEY", &der))
        } else {
            None
        };
        let chain = self.pki.chain_pem(&certificate).await.map_err(internal)?;
        let bundle = bundle_of(&certificate, &chain, run.version, key_pem);
        let credentials = self.open_credentials(&target).map_err(internal)?;
        let config = config_text(&target.config).map_err(internal)?;
        if run.include_private_key {
            self.audit_key_push(run, &target).await.map_err(internal)?;
        }
        plugin
            .push(&bundle, &config, &credentials)
            .await
            .map_err(|e| PushFailure::from_plugin(&e))
    }

    /// A private key leaving the server is a high-severity event.
    async fn audit_key_push(&self, run: &RotationRun, target: &RotationTarget) -> Result<()> {
        self.audit
            .record(AuditEvent {
                organization_id: Some(&run.organization_id),
                actor: run.requested_by.clone(),
                action: "rotation.key_push",
                target: Some(&run.certificate_id),
                severity: Severity::High,
                outcome: Outcome::Success,
                request_id: None,
                details: Some(json!({
                    "target_id": target.id, "target": target.name, "type": target.target_type,
                })),
            })
            .await
    }

    /// Looks for certificates whose schedule is due or that are inside their
    /// "N days before expiry" window; returns how many it acted on.
    pub async fn scan(&self) -> Result<usize> {
        let now = OffsetDateTime::now_utc();
        let mut acted = 0;
        for config in self.store.rotation_configs_due(now).await? {
            match self.scan_one(&config, now).await {
                Ok(true) => acted += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(certificate = %config.certificate_id, error = %err, "rotation scan failed for a certificate");
                    self.store
                        .rotation_config_set_next_run(&config.certificate_id, Some(now + QUIET))
                        .await?;
                }
            }
        }
        Ok(acted)
    }

    async fn scan_one(&self, config: &RotationConfig, now: OffsetDateTime) -> Result<bool> {
        let Some(certificate) = self
            .store
            .certificate_get(
                Scope::organization(&config.organization_id),
                &config.certificate_id,
            )
            .await?
        else {
            return Ok(false);
        };
        if Self::check_pushable(&certificate).is_err() {
            self.store
                .rotation_config_set_next_run(&certificate.id, Some(now + QUIET))
                .await?;
            return Ok(false);
        }
        match config.trigger {
            Trigger::Schedule => {
                let hours = config.interval_hours.unwrap_or(24).max(1);
                self.store
                    .rotation_config_set_next_run(
                        &certificate.id,
                        Some(now + Duration::hours(i64::from(hours))),
                    )
                    .await?;
                let (targets, include_key) = self.followers(&certificate).await?;
                let queued = self
                    .insert_runs(
                        &certificate,
                        &targets,
                        RunReason::Schedule,
                        include_key,
                        "system:rotation",
                        RunStatus::Pending,
                    )
                    .await?;
                Ok(!queued.is_empty())
            }
            Trigger::BeforeExpiry => {
                let days = config.days_before_expiry.unwrap_or(30);
                let Some(not_after) = certificate.not_after() else {
                    return Ok(false);
                };
                let due = not_after - Duration::days(i64::from(days));
                if due > now {
                    self.store
                        .rotation_config_set_next_run(&certificate.id, Some(due))
                        .await?;
                    return Ok(false);
                }
                self.renew_for_rotation(&certificate, now).await
            }
            Trigger::OnRenewal => Ok(false),
        }
    }

    /// Renews a certificate inside its "before expiry" window; the renewal hands
    /// the targets over and queues the pushes. A failed renewal is a failed push
    /// for every enabled target, with the reason.
    async fn renew_for_rotation(
        &self,
        certificate: &Certificate,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let renewed_already = !self
            .store
            .certificate_renewals(
                Scope::organization(&certificate.organization_id),
                &certificate.id,
            )
            .await?
            .is_empty();
        if renewed_already {
            self.store
                .rotation_config_set_next_run(&certificate.id, Some(now + QUIET))
                .await?;
            return Ok(false);
        }
        let system = Caller {
            principal: Principal::system("rotation", &certificate.organization_id),
            request_id: None,
        };
        match self.pki.renew(&system, &certificate.id).await {
            Ok(_) => Ok(true),
            Err(err) => {
                self.store
                    .rotation_config_set_next_run(&certificate.id, Some(now + QUIET))
                    .await?;
                let (targets, _) = self.followers(certificate).await?;
                // Stored as failed from the start: no worker may push the old certificate.
                let runs = self
                    .insert_runs(
                        certificate,
                        &targets,
                        RunReason::BeforeExpiry,
                        false,
                        "system:rotation",
                        RunStatus::Failed,
                    )
                    .await?;
                for mut run in runs {
                    run.progress.finished_at = Some(timestamp::now());
                    run.progress.duration_ms = Some(0);
                    self.record_rotation_failure(
                        run,
                        PushFailure::permanent(format!("renewal before expiry failed: {err}")),
                    )
                    .await?;
                }
                Ok(false)
            }
        }
    }
}

/// The plugin's view of a certificate.
pub(super) fn bundle_of(
    certificate: &Certificate,
    chain: &[String],
    version: u32,
    private_key_pem: Option<String>,
) -> Bundle {
    let mut names = Vec::new();
    if !certificate.common_name.is_empty() {
        names.push(certificate.common_name.clone());
    }
    for dns in &certificate.san.dns_names {
        if !names.contains(dns) {
            names.push(dns.clone());
        }
    }
    Bundle {
        tenant: Tenant {
            organization_id: certificate.organization_id.clone(),
            project_id: Some(certificate.project_id.clone()),
        },
        certificate_id: certificate.id.clone(),
        serial: bundle_serial(certificate.serial_number()),
        version,
        names,
        certificate_pem: certificate
            .der()
            .map(|der| crate::pki::pem_encode("CERTIFICATE", der))
            .unwrap_or_default(),
        chain_pem: chain
            .iter()
            .map(|pem| {
                if pem.ends_with('\n') {
                    pem.clone()
                } else {
                    format!("{pem}\n")
                }
            })
            .collect(),
        private_key_pem,
        not_after: certificate
            .not_after()
            .map(|t| u64::try_from(t.unix_timestamp()).unwrap_or(0))
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let config = crate::config::RotationConfig {
            retry_base_secs: 30,
            retry_max_secs: 600,
            ..Default::default()
        };
        let waits: Vec<u64> = (2..=8).map(|a| backoff(&config, a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(backoff(&config, 1_000).as_secs(), 600);
    }

    #[test]
    fn serials_are_plain_hex() {
        assert_eq!(bundle_serial(Some("01:AB:cd")), "01abcd");
        assert_eq!(bundle_serial(None), "");
    }
}
