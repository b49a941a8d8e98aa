//! Background jobs: CRL refresh before `nextUpdate`, the renewal scan, the rotation queue
//! and its scan, the expiry scan (webhook notices), and housekeeping. Each runs on its own
//! interval; a failed run is logged and the next tick tries again. The webhook dispatcher
//! is started beside them (`server.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::auth::rate_limit::RateLimits;
use crate::config::Config;
use crate::pki::Pki;
use crate::rotation::Rotation;
use crate::store::Store;
use crate::timestamp;

/// CRLs are re-signed when they have less than this left.
const CRL_MARGIN: time::Duration = time::Duration::hours(6);

/// Starts every job; dropping or aborting the returned set stops them.
pub fn spawn(
    config: &Config,
    pki: Arc<Pki>,
    rotation: Arc<Rotation>,
    store: Store,
    rate_limits: Arc<RateLimits>,
) -> JoinSet<()> {
    let mut jobs = JoinSet::new();
    // Pushes run as soon as they are queued; the worker waits on the queue itself.
    jobs.spawn(rotation.clone().run_queue());
    jobs.spawn(every(
        Duration::from_secs(config.rotation.scan_secs),
        "rotation-scan",
        rotation.clone(),
        |rotation| async move {
            let acted = rotation.scan().await?;
            if acted > 0 {
                tracing::info!(certificates = acted, "rotation scan");
            }
            Ok(())
        },
    ));
    let thresholds = config.webhooks.expiring_days.clone();
    jobs.spawn(every(
        Duration::from_secs(config.jobs.expiry_scan_secs),
        "expiry-scan",
        (pki.clone(), thresholds),
        |(pki, thresholds)| async move {
            let scan = pki.scan_expiry(&thresholds).await?;
            if scan != Default::default() {
                tracing::info!(
                    expiring = scan.expiring,
                    expired = scan.expired,
                    "expiry notices"
                );
            }
            Ok(())
        },
    ));
    let retention = time::Duration::days(i64::from(config.webhooks.retention_days));
    jobs.spawn(every(
        Duration::from_secs(3600),
        "webhook-retention",
        store,
        move |store| async move {
            let pruned = store.delivery_prune(timestamp::now() - retention).await?;
            if pruned > 0 {
                tracing::info!(deliveries = pruned, "pruned the webhook delivery log");
            }
            Ok(())
        },
    ));
    let config = &config.jobs;
    jobs.spawn(every(
        Duration::from_secs(config.crl_refresh_secs),
        "crl-refresh",
        pki.clone(),
        |pki| async move {
            let n = pki.refresh_due_crls(CRL_MARGIN).await?;
            if n > 0 {
                tracing::info!(cas = n, "re-signed CRLs before nextUpdate");
            }
            Ok(())
        },
    ));
    jobs.spawn(every(
        Duration::from_secs(config.renewal_scan_secs),
        "renewal-scan",
        pki,
        |pki| async move {
            let scan = pki.scan_renewals().await?;
            if scan != Default::default() {
                tracing::info!(
                    renewed = scan.renewed,
                    queued = scan.queued,
                    failed = scan.failed,
                    "renewal scan"
                );
            }
            Ok(())
        },
    ));
    jobs.spawn(every(
        Duration::from_secs(60),
        "rate-limit-shrink",
        rate_limits,
        |limits| async move {
            limits.shrink();
            Ok(())
        },
    ));
    jobs
}

/// Runs `run` every `period`, each time on its own clone of `subject` (the services the
/// job works on), which the run's future owns.
async fn every<T, F, Fut>(period: Duration, name: &'static str, subject: T, run: F)
where
    T: Clone,
    F: Fn(T) -> Fut,
    Fut: Future<Output = crate::Result<()>>,
{
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if let Err(err) = run(subject.clone()).await {
            tracing::warn!(job = name, error = %err, "background job failed; retrying at the next tick");
        }
    }
}
