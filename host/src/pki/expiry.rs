//! Expiry notices: `certificate.expiring` once per configured threshold (days before
//! `notAfter`) and `certificate.expired` once, for active certificates. Each notice is
//! recorded with its event in one transaction, so that a notice is given once even
//! when several nodes scan.

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::Pki;
use super::webhook_events::certificate_event;
use crate::model::Certificate;
use crate::webhooks::{self, Event, EventKind};
use crate::{Error, Result};

/// Certificates handled per query; a scan repeats until it has seen them all.
const BATCH: i64 = 500;

/// What one scan did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExpiryScan {
    pub expiring: usize,
    pub expired: usize,
}

fn expiring_notice(days: u32) -> String {
    format!("expiring:{days}")
}

impl Pki {
    /// Gives the notices due now. `thresholds` are days before expiry (e.g. 30, 7, 1).
    /// A certificate that crosses several thresholds at once (one issued for five days)
    /// gets one event, for the smallest; the larger ones count as given.
    pub async fn scan_expiry(&self, thresholds: &[u32]) -> Result<ExpiryScan> {
        let mut thresholds = thresholds.to_vec();
        thresholds.sort_unstable();
        thresholds.dedup();
        let mut scan = ExpiryScan::default();
        let now = OffsetDateTime::now_utc();
        for (i, &days) in thresholds.iter().enumerate() {
            let limit = now + Duration::days(i64::from(days));
            let notice = expiring_notice(days);
            loop {
                let due = self
                    .store
                    .expiry_candidates(Some(now), limit, &notice, BATCH)
                    .await?;
                let full = due.len() as i64 == BATCH;
                let also: Vec<String> = thresholds[i + 1..]
                    .iter()
                    .map(|d| expiring_notice(*d))
                    .collect();
                scan.expiring += self.notify(&due, &notice, &also, now, Some(days)).await?;
                if !full {
                    break;
                }
            }
        }
        loop {
            let due = self
                .store
                .expiry_candidates(None, now, "expired", BATCH)
                .await?;
            let full = due.len() as i64 == BATCH;
            scan.expired += self.notify(&due, "expired", &[], now, None).await?;
            if !full {
                break;
            }
        }
        Ok(scan)
    }

    /// Records `notice` (and `also`) for each certificate and emits its event, all in one
    /// transaction. Returns how many notices were new.
    async fn notify(
        &self,
        certificates: &[Certificate],
        notice: &str,
        also: &[String],
        now: OffsetDateTime,
        threshold: Option<u32>,
    ) -> Result<usize> {
        if certificates.is_empty() {
            return Ok(0);
        }
        let notices: Vec<(String, Event)> = certificates
            .iter()
            .map(|certificate| {
                let event = match threshold {
                    Some(days) => {
                        let left = certificate
                            .not_after()
                            .map(|end| (end - now).whole_days())
                            .unwrap_or_default();
                        certificate_event(
                            EventKind::CertificateExpiring,
                            certificate,
                            json!({ "thresholdDays": days, "daysLeft": left }),
                        )
                    }
                    None => certificate_event(
                        EventKind::CertificateExpired,
                        certificate,
                        json!({ "status": "expired" }),
                    ),
                };
                (certificate.id.clone(), event)
            })
            .collect();
        let (notice, also) = (notice.to_owned(), also.to_vec());
        let given = self
            .store
            .transaction(move |tx| {
                let mut given = 0;
                for (certificate_id, event) in &notices {
                    if !tx.expiry_notice_insert(certificate_id, &notice, now)? {
                        continue;
                    }
                    for other in &also {
                        tx.expiry_notice_insert(certificate_id, other, now)?;
                    }
                    webhooks::emit(tx, event)?;
                    given += 1;
                }
                Ok::<_, Error>(given)
            })
            .await?;
        Ok(given)
    }
}
