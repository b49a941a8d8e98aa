//! Renewal: a new certificate with the same subject, SANs and template (and a new key
//! where the key was made here); the history of renewals; and the queue a background
//! scan fills with certificates inside their template's renew-before window.

use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::Pki;
use super::certificates::{key_record, pem_of_csr};
use super::csr::{self, Possession};
use super::webhook_events::certificate_event;
use crate::audit::Severity;
use crate::auth::{Caller, Principal};
use crate::model::{
    Certificate, CertificateSource, NewCertificate, RenewalRequest, RenewalStatus, Status,
};
use crate::webhooks::EventKind;
use crate::{Error, Result, timestamp};

/// What one scan did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RenewalScan {
    pub renewed: usize,
    pub queued: usize,
    pub failed: usize,
}

/// Certificates further out than this are never candidates (no template allows more).
const LONGEST_WINDOW_DAYS: i64 = 3650;

impl Pki {
    /// Renews an active certificate now; returns the new one.
    pub async fn renew(&self, caller: &Caller, id: &str) -> Result<Certificate> {
        let old = self.get_certificate(caller, id).await?;
        self.renew_certificate(caller, &old).await
    }

    async fn renew_certificate(&self, caller: &Caller, old: &Certificate) -> Result<Certificate> {
        if old.status != Status::Active {
            return Err(Error::Conflict(format!(
                "only an active certificate can be renewed; this one is {}",
                old.status
            )));
        }
        let template_id = old.template_id.clone().ok_or_else(|| {
            Error::Conflict(match old.source {
                CertificateSource::Mtls => {
                    "the certificate was made by the mTLS API; renew it with POST /api/certificates/mtls/{id}/renew"
                        .into()
                }
                _ => "the certificate has no template (it was imported); it cannot be renewed here"
                    .into(),
            })
        })?;
        let template = self.get_template(caller, &template_id).await?;
        let rules = &template.rules;
        // A renewal is a fresh certificate of the template, whatever the old one asked for.
        let validity_days = rules.default_validity_days;
        let key = old.key_type.algorithm().ok_or_else(|| {
            Error::internal(anyhow::anyhow!("unknown key type {}", old.key_type.label()))
        })?;
        self.check_template(
            caller,
            &template.name,
            rules,
            &old.project_id,
            &old.subject,
            &old.san,
            key,
            validity_days,
        )
        .await?;

        let id = crate::model::new_id();
        let (csr_pem, csr_der, sealed_key) = if old.sealed_key.is_some() {
            // The key was made here: renewal makes a new one.
            let (new_key, parsed) =
                Self::generate_key(key, old.subject.clone(), old.san.clone()).await?;
            let sealed = self.master.seal(&key_record(&id), new_key.serialized_der());
            (pem_of_csr(&parsed.der), parsed.der, Some(sealed))
        } else {
            // The client or an external custodian holds the key: sign its public key again.
            let pem = old.csr_pem.clone().ok_or_else(|| {
                Error::internal(anyhow::anyhow!("certificate {} has no request", old.id))
            })?;
            let der = csr::pem_to_der("csr_pem", &pem)?;
            (pem, der, None)
        };
        let now = timestamp::now();
        let mut certificate = Certificate::granted(NewCertificate {
            id,
            organization_id: old.organization_id.clone(),
            project_id: old.project_id.clone(),
            source: old.source,
            ca_id: old.ca_id.clone(),
            template_id: old.template_id.clone(),
            common_name: old.common_name.clone(),
            subject: old.subject.clone(),
            san: old.san.clone(),
            key_type: old.key_type.clone(),
            key_storage: old.key_storage,
            validity_days,
            csr_pem: Some(csr_pem),
            sealed_key,
            requested_by: caller.principal.actor(),
            requested_at: now,
        });
        certificate.properties = old.properties.clone();
        certificate.renewed_from = Some(old.id.clone());
        self.sign_into(&mut certificate, rules, &csr_der, Possession::Proven)
            .await?;
        let new_key = certificate.sealed_key.is_some();
        let audit = caller
            .success(
                "certificate.renew",
                &certificate.id,
                Severity::Medium,
                Some(json!({ "renewed_from": old.id, "new_key": new_key })),
            )
            .record();
        let event = certificate_event(
            EventKind::CertificateRenewed,
            &certificate,
            json!({ "renewedFrom": old.id, "newKey": new_key }),
        );
        let certificate = self
            .commit_issuance(certificate, audit, Some(event))
            .await?;
        // The renewal is complete: rotation (and any other listener) takes it from here.
        self.announce_renewed(old, &certificate).await;
        Ok(certificate)
    }

    /// Every certificate in the renewal chain of `id`, oldest first.
    pub async fn renewal_history(&self, caller: &Caller, id: &str) -> Result<Vec<Certificate>> {
        let start = self.get_certificate(caller, id).await?;
        let mut chain = vec![start.clone()];
        let mut back = start.renewed_from.clone();
        while let Some(previous) = back {
            let Some(earlier) = self
                .store
                .certificate_get(caller.scope(), &previous)
                .await?
            else {
                break;
            };
            back = earlier.renewed_from.clone();
            chain.insert(0, earlier);
        }
        let mut forward = start.id.clone();
        while let Some(next) = self
            .store
            .certificate_renewals(caller.scope(), &forward)
            .await?
            .into_iter()
            .next()
        {
            forward = next.id.clone();
            chain.push(next);
        }
        Ok(chain)
    }

    /// Finds certificates inside their template's renew-before window: renews them where
    /// the template allows automatic renewal, queues them for approval otherwise.
    pub async fn scan_renewals(&self) -> Result<RenewalScan> {
        let now = OffsetDateTime::now_utc();
        let horizon = now + Duration::days(LONGEST_WINDOW_DAYS);
        let mut scan = RenewalScan::default();
        for (certificate, rules) in self.store.renewal_candidates(horizon).await? {
            let Some(not_after) = certificate.not_after() else {
                continue;
            };
            if not_after - Duration::days(i64::from(rules.renew_before_days)) > now {
                continue;
            }
            let system = Caller {
                principal: Principal::system("renewal", &certificate.organization_id),
                request_id: None,
            };
            let mut entry = RenewalRequest {
                id: Uuid::new_v4().to_string(),
                organization_id: certificate.organization_id.clone(),
                certificate_id: certificate.id.clone(),
                status: RenewalStatus::Pending,
                reason: format!(
                    "expires {} (renew {} days before)",
                    timestamp::format(not_after),
                    rules.renew_before_days
                ),
                not_after,
                new_certificate_id: None,
                decided_by: None,
                decided_at: None,
                error: None,
                created_at: timestamp::now(),
            };
            if rules.auto_renew {
                entry.decided_by = Some(system.principal.actor());
                entry.decided_at = Some(timestamp::now());
                match self.renew_certificate(&system, &certificate).await {
                    Ok(new) => {
                        entry.status = RenewalStatus::Renewed;
                        entry.new_certificate_id = Some(new.id);
                        scan.renewed += 1;
                    }
                    Err(err) => {
                        // Kept as `failed` so that the next scan does not retry it forever;
                        // an operator sees the error in the queue.
                        entry.status = RenewalStatus::Failed;
                        entry.error = Some(err.to_string());
                        scan.failed += 1;
                    }
                }
            } else {
                scan.queued += 1;
            }
            self.store.renewal_insert(entry).await?;
        }
        Ok(scan)
    }

    /// The queue entries of certificates the caller sees, newest first.
    pub async fn renewal_queue(
        &self,
        caller: &Caller,
        status: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RenewalRequest>, i64)> {
        let status = status
            .map(|s| {
                RenewalStatus::parse(s).ok_or_else(|| {
                    Error::bad_request("status", "must be pending, renewed, cancelled or failed")
                })
            })
            .transpose()?;
        Ok(self
            .store
            .renewal_list(caller.scope(), status, offset, limit)
            .await?)
    }

    /// Approves a queued renewal: the certificate is renewed now.
    pub async fn approve_renewal(&self, caller: &Caller, id: &str) -> Result<RenewalRequest> {
        let mut entry = self.pending_renewal(caller, id).await?;
        let old = self.get_certificate(caller, &entry.certificate_id).await?;
        let new = self.renew_certificate(caller, &old).await?;
        entry.status = RenewalStatus::Renewed;
        entry.new_certificate_id = Some(new.id);
        self.decide(caller, entry, "renewal.approve").await
    }

    pub async fn cancel_renewal(&self, caller: &Caller, id: &str) -> Result<RenewalRequest> {
        let mut entry = self.pending_renewal(caller, id).await?;
        entry.status = RenewalStatus::Cancelled;
        self.decide(caller, entry, "renewal.cancel").await
    }

    async fn pending_renewal(&self, caller: &Caller, id: &str) -> Result<RenewalRequest> {
        let entry = self
            .store
            .renewal_get(caller.scope(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("renewal '{id}'")))?;
        if entry.status != RenewalStatus::Pending {
            return Err(Error::Conflict(format!(
                "the renewal is {}, not pending",
                entry.status
            )));
        }
        Ok(entry)
    }

    async fn decide(
        &self,
        caller: &Caller,
        mut entry: RenewalRequest,
        action: &str,
    ) -> Result<RenewalRequest> {
        entry.decided_by = Some(caller.principal.actor());
        entry.decided_at = Some(timestamp::now());
        if !self.store.renewal_decide(entry.clone()).await? {
            return Err(Error::Conflict("the renewal was decided meanwhile".into()));
        }
        self.audit
            .record(caller.success(action, &entry.id, Severity::Low, None))
            .await?;
        Ok(entry)
    }
}
