//! Certificate requests and the lifecycle of what they become.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};
use utoipa::IntoParams;

use super::Pki;
use super::csr::{self, Possession};
use super::events::KeyCustody;
use super::issue::{self, LeafProfile};
use super::lifecycle::{self, Transition};
use super::template::RequestFacts;
use super::validators::ValidationInput;
use super::webhook_events::certificate_event;
use crate::audit::Severity;
use crate::auth::Caller;
use crate::model::{
    ApprovalMode, Certificate, CertificateFilter, CertificateSource, CrlKind, Issued, KeyAlgorithm,
    KeyStorageMode, KeyType, NewCertificate, Revocation, SanSet, Status, Subject, TemplateRules,
};
use crate::store::{Scope, Tx};
use crate::webhooks::{self, EventKind};
use crate::{Error, Result, timestamp};

/// Where a key generated here is kept.
#[derive(Debug, Clone)]
pub enum KeyStorage {
    /// Sealed under the master key with the certificate.
    Local,
    /// Handed to a custodian (a rotation target) and not kept here.
    External(Arc<dyn KeyCustody>),
}

#[derive(Debug)]
pub enum SubmitMode {
    /// The client made the key and CSR.
    UploadedCsr { csr_pem: String },
    /// The key and CSR are made here.
    Generated {
        key_algorithm: Option<String>,
        key_size: Option<u32>,
        storage: KeyStorage,
    },
}

#[derive(Debug)]
pub struct SubmitRequest {
    pub template_id: String,
    pub project_id: Option<String>,
    pub mode: SubmitMode,
    pub requested_cn: Option<String>,
    pub requested_subject: Option<Subject>,
    pub requested_san: Option<SanSet>,
    pub validity_days: Option<u32>,
}

/// What a certificate list is narrowed to; the API reads it from the query string as is.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CertificateQuery {
    pub project_id: Option<String>,
    /// `active`, `pending_approval`, `revoked`, `expired`, `rejected`, `archived`.
    pub status: Option<String>,
    pub ca_id: Option<String>,
    /// Substring of the common name, case-insensitive.
    pub common_name: Option<String>,
    /// Certificates expiring within N days.
    pub expiring_within_days: Option<i64>,
    /// `issued`, `imported` or `mtls`.
    pub source: Option<String>,
}

pub const LIST_STATUSES: &[&str] = &[
    "active",
    "pending_approval",
    "revoked",
    "expired",
    "rejected",
    "archived",
];

/// Where a submitted request's key comes from.
enum KeySource {
    /// The requester's, in an uploaded CSR (its DER).
    Uploaded(Vec<u8>),
    /// Made here, then kept as asked.
    MadeHere(KeyStorage),
}

pub(super) fn key_record(certificate_id: &str) -> String {
    format!("certificate:{certificate_id}")
}

impl Pki {
    pub async fn submit(&self, caller: &Caller, request: SubmitRequest) -> Result<Certificate> {
        let template = self
            .get_template(caller, &request.template_id)
            .await
            .map_err(|err| match err {
                Error::NotFound(_) => Error::bad_request(
                    "template_id",
                    format!("no template '{}'", request.template_id),
                ),
                other => other,
            })?;
        let rules = &template.rules;
        let project_id = self.resolve_project(caller, request.project_id).await?;
        let validity_days = request.validity_days.unwrap_or(rules.default_validity_days);
        if validity_days == 0 {
            return Err(Error::bad_request("validity_days", "must be at least 1"));
        }

        let id = crate::model::new_id();
        // What the certificate will say comes from the CSR, or from the request alone when
        // the key is made here; the template is checked before any key is made.
        let (base_subject, base_san, key, source) = match request.mode {
            SubmitMode::UploadedCsr { csr_pem } => {
                let parsed = csr::parse_pem("csr_pem", &csr_pem)?;
                (
                    parsed.subject,
                    parsed.san,
                    parsed.key,
                    KeySource::Uploaded(parsed.der),
                )
            }
            SubmitMode::Generated {
                key_algorithm,
                key_size,
                storage,
            } => {
                let algorithm = match (key_algorithm, rules.allowed_key_algorithms.first()) {
                    (Some(a), _) => KeyAlgorithm::parse("requested_key_algorithm", &a, key_size)?,
                    (None, Some(a)) => KeyAlgorithm::parse("requested_key_algorithm", a, key_size)?,
                    (None, None) => KeyAlgorithm::EcdsaP256,
                };
                (
                    Subject::default(),
                    SanSet::default(),
                    algorithm,
                    KeySource::MadeHere(storage),
                )
            }
        };
        let subject = merged_subject(
            base_subject,
            request.requested_subject,
            request.requested_cn.as_deref(),
        );
        subject.validate()?;
        let mut san = base_san;
        if let Some(extra) = request.requested_san {
            san.dns_names.extend(extra.dns_names);
            san.ip_addresses.extend(extra.ip_addresses);
            san.email_addresses.extend(extra.email_addresses);
            san.uris.extend(extra.uris);
        }
        let mut san = san.normalize()?;
        san.dns_names.dedup();
        let checked = self
            .check_template(
                caller,
                &template.name,
                rules,
                &project_id,
                &subject,
                &san,
                key,
                validity_days,
            )
            .await;
        if let (Err(_), KeySource::Uploaded(der)) = (&checked, &source) {
            // A request that fails both is told about its signature first; one that passes
            // has it verified where it is signed.
            let der = der.clone();
            super::off_the_workers(move || csr::verify("csr_pem", &der)).await?;
        }
        checked?;
        // A key that leaves this server: its custodian and the key (PEM).
        let mut external: Option<(Arc<dyn KeyCustody>, String)> = None;
        let (der, sealed_key, key_storage, possession) = match source {
            KeySource::Uploaded(der) => (der, None, KeyStorageMode::None, Possession::Unchecked),
            KeySource::MadeHere(storage) => {
                let (made, parsed) = Self::generate_key(key, subject.clone(), san.clone()).await?;
                match storage {
                    KeyStorage::Local => {
                        let sealed = self.master.seal(&key_record(&id), made.serialized_der());
                        (
                            parsed.der,
                            Some(sealed),
                            KeyStorageMode::Local,
                            Possession::Proven,
                        )
                    }
                    KeyStorage::External(custody) => {
                        external =
                            Some((custody, pem_encode("PRIVATE KEY", made.serialized_der())));
                        (
                            parsed.der,
                            None,
                            KeyStorageMode::External,
                            Possession::Proven,
                        )
                    }
                }
            }
        };
        let common_name = subject
            .common_name
            .clone()
            .or_else(|| san.dns_names.first().cloned())
            .unwrap_or_default();
        let mut certificate = Certificate::requested(NewCertificate {
            id,
            organization_id: caller.organization_id().to_owned(),
            project_id,
            source: CertificateSource::Issued,
            ca_id: Some(template.ca_id.clone()),
            template_id: Some(template.id.clone()),
            common_name,
            subject,
            san,
            key_type: KeyType::Known(key),
            key_storage,
            validity_days,
            csr_pem: Some(pem_of_csr(&der)),
            sealed_key,
            requested_by: caller.principal.actor(),
            requested_at: timestamp::now(),
        });
        if rules.approval == ApprovalMode::Automatic {
            self.sign_into(&mut certificate, rules, &der, possession)
                .await?;
            certificate.status = Status::Active;
            certificate.decided_by = Some("template:automatic".into());
            certificate.decided_at = Some(timestamp::now());
        } else if possession == Possession::Unchecked {
            // Stored until approved: approval signs it without checking again.
            super::off_the_workers(move || csr::verify("csr_pem", &der)).await?;
        }
        if let Some((custody, key_pem)) = &external {
            // The key leaves before anything is stored: if it cannot, nothing is kept.
            let chain = if certificate.issued.is_some() {
                self.chain_pem(&certificate).await?
            } else {
                Vec::new()
            };
            custody.deposit(&certificate, &chain, key_pem).await?;
        }
        // The certificate, its audit event and its webhook event commit together.
        let audit = caller
            .success(
                "certificate.request",
                &certificate.id,
                Severity::Low,
                Some(json!({
                    "template": template.name, "common_name": certificate.common_name,
                    "status": certificate.status.as_str(),
                    "key_storage_mode": certificate.key_storage.as_str(),
                })),
            )
            .record();
        let event = (certificate.status == Status::Active)
            .then(|| certificate_event(EventKind::CertificateIssued, &certificate, json!({})));
        let certificate = self.commit_issuance(certificate, audit, event).await?;
        if let Some((custody, _)) = external {
            self.audit
                .record(caller.success(
                    "certificate.key_deposit",
                    &certificate.id,
                    Severity::High,
                    Some(json!({ "destination": custody.describe() })),
                ))
                .await?;
            if let Err(err) = custody.adopt(&certificate).await {
                tracing::warn!(certificate = %certificate.id, error = %err, "cannot record the key's custodian as a rotation target");
            }
        }
        Ok(certificate)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn check_template(
        &self,
        caller: &Caller,
        template_name: &str,
        rules: &TemplateRules,
        project_id: &str,
        subject: &Subject,
        san: &SanSet,
        key: KeyAlgorithm,
        validity_days: u32,
    ) -> Result<()> {
        let mut violations = rules.violations(&RequestFacts {
            subject,
            san,
            key,
            validity_days,
        });
        violations.extend(
            self.run_validators(&ValidationInput {
                organization_id: caller.organization_id(),
                project_id,
                template: template_name,
                rules,
                subject,
                san,
                key,
                validity_days,
            })
            .await?,
        );
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Error::Unprocessable(violations))
        }
    }

    pub(super) async fn resolve_project(
        &self,
        caller: &Caller,
        project_id: Option<String>,
    ) -> Result<String> {
        let project_id = match (project_id, &caller.principal.project_id) {
            (Some(p), _) => p,
            (None, Some(mine)) => mine.clone(),
            (None, None) => return Err(Error::bad_request("project_id", "is required")),
        };
        let visible = caller.principal.sees_project(&project_id)
            && self
                .store
                .project_get(caller.scope(), &project_id)
                .await?
                .is_some();
        if !visible {
            return Err(Error::bad_request(
                "project_id",
                format!("no project '{project_id}'"),
            ));
        }
        Ok(project_id)
    }

    /// Signs the request `certificate` holds with its template's CA.
    pub(super) async fn sign_into(
        &self,
        certificate: &mut Certificate,
        rules: &TemplateRules,
        csr_der: &[u8],
        possession: Possession,
    ) -> Result<()> {
        self.sign_with_usages(
            certificate,
            &rules.key_usage,
            &rules.extended_key_usage,
            csr_der,
            possession,
        )
        .await
    }

    /// Signs the request `certificate` holds with the CA it names, with these key usages.
    /// An unchecked CSR's self-signature is verified first, in the same trip off the async
    /// workers.
    pub(super) async fn sign_with_usages(
        &self,
        certificate: &mut Certificate,
        key_usage: &[String],
        extended_key_usage: &[String],
        csr_der: &[u8],
        possession: Possession,
    ) -> Result<()> {
        let ca_id = certificate.ca_id.clone().unwrap_or_default();
        let ca = self
            .loaded_ca(Scope::organization(&certificate.organization_id), &ca_id)
            .await?;
        let validity_days = certificate.validity_days;
        if let Some(ca_end) = ca.authority.not_after
            && OffsetDateTime::now_utc() + Duration::days(i64::from(validity_days)) > ca_end
        {
            return Err(Error::Unprocessable(vec![format!(
                "validity of {validity_days} days would outlive the CA, which ends {}",
                timestamp::format(ca_end)
            )]));
        }
        let (key_usage, extended_key_usage) = (key_usage.to_vec(), extended_key_usage.to_vec());
        let (subject, san) = (certificate.subject.clone(), certificate.san.clone());
        let csr_der = csr_der.to_vec();
        let signer = ca.clone();
        let signed = super::off_the_workers(move || {
            if possession == Possession::Unchecked {
                csr::verify("csr_pem", &csr_der)?;
            }
            issue::leaf(
                &LeafProfile {
                    subject: &subject,
                    san: &san,
                    validity_days,
                    key_usage: &key_usage,
                    extended_key_usage: &extended_key_usage,
                },
                &csr_der,
                &signer.issuer,
                &signer.urls,
            )
        })
        .await?;
        certificate.issued = Some(Issued {
            serial_number: signed.serial_number,
            der: signed.der,
            fingerprint_sha256: signed.fingerprint_sha256,
            issuer_cn: ca.authority.subject.common_name.clone(),
            not_before: signed.not_before,
            not_after: signed.not_after,
        });
        Ok(())
    }

    pub async fn get_certificate(&self, caller: &Caller, id: &str) -> Result<Certificate> {
        self.store
            .certificate_get(caller.scope(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("certificate '{id}'")))
    }

    pub async fn list_certificates(
        &self,
        caller: &Caller,
        query: CertificateQuery,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Certificate>, i64)> {
        let now = OffsetDateTime::now_utc();
        let mut filter = CertificateFilter {
            project_id: query.project_id,
            ca_id: query.ca_id,
            common_name: query.common_name,
            ..CertificateFilter::default()
        };
        match query.status.as_deref() {
            None => {}
            // `expired` is not stored: it is active with its end passed.
            Some("expired") => {
                filter.status = Some(Status::Active);
                filter.ended_before = Some(now);
            }
            Some("active") => {
                filter.status = Some(Status::Active);
                filter.running_at = Some(now);
            }
            Some(other) => {
                filter.status = Some(Status::parse(other).ok_or_else(|| {
                    Error::bad_request(
                        "status",
                        format!("'{other}' is not one of {}", LIST_STATUSES.join(", ")),
                    )
                })?);
            }
        }
        if let Some(source) = query.source {
            filter.source = Some(CertificateSource::parse(&source).ok_or_else(|| {
                let names: Vec<&str> = CertificateSource::ALL.iter().map(|s| s.as_str()).collect();
                Error::bad_request(
                    "source",
                    format!("'{source}' is not one of {}", names.join(", ")),
                )
            })?);
        }
        if let Some(days) = query.expiring_within_days {
            if !(0..=36500).contains(&days) {
                return Err(Error::bad_request(
                    "expiring_within_days",
                    "must be between 0 and 36500",
                ));
            }
            filter.ending_by = Some(now + Duration::days(days));
            if filter.ended_before.is_none() {
                filter.running_at = Some(now);
            }
        }
        Ok(self
            .store
            .certificate_list(caller.scope(), &filter, offset, limit)
            .await?)
    }

    pub async fn update_properties(
        &self,
        caller: &Caller,
        id: &str,
        properties: Map<String, Value>,
    ) -> Result<Certificate> {
        let mut certificate = self.get_certificate(caller, id).await?;
        certificate.properties = properties;
        certificate.updated_at = timestamp::now();
        let audit = caller
            .success("certificate.update", id, Severity::Low, None)
            .record();
        self.store
            .transaction(move |tx| {
                save(tx, &certificate, certificate.status)?;
                tx.audit_insert(&audit)?;
                Ok::<_, Error>(certificate)
            })
            .await
    }

    /// Applies a lifecycle transition decided by [`lifecycle::next`].
    pub async fn transition(
        &self,
        caller: &Caller,
        id: &str,
        transition: Transition,
        comment: Option<String>,
    ) -> Result<Option<Certificate>> {
        let mut certificate = self.get_certificate(caller, id).await?;
        let previous = certificate.status;
        let next = lifecycle::next(
            previous,
            certificate.is_on_hold(),
            certificate.archived_status,
            transition,
        )
        .map_err(Error::Conflict)?;
        let now = timestamp::now();
        let actor = caller.principal.actor();
        let (action, severity) = match transition {
            Transition::Approve => {
                let template_id = certificate.template_id.clone().unwrap_or_default();
                let rules = self.get_template(caller, &template_id).await?.rules;
                if !rules.allow_self_approval && certificate.requested_by == actor {
                    return Err(Error::Denied(
                        "the requester cannot approve their own request under this template".into(),
                    ));
                }
                let der = csr_der_of(certificate.csr_pem.as_deref().unwrap_or_default())?;
                self.sign_into(&mut certificate, &rules, &der, Possession::Proven)
                    .await?;
                certificate.decided_by = Some(actor.clone());
                certificate.decided_at = Some(now);
                ("certificate.approve", Severity::Medium)
            }
            Transition::Reject => {
                certificate.decided_by = Some(actor.clone());
                certificate.decided_at = Some(now);
                certificate.rejection_reason = comment.clone();
                certificate.sealed_key = None;
                ("certificate.reject", Severity::Low)
            }
            Transition::Revoke(reason) => {
                certificate.revocation = Some(Revocation {
                    revoked_at: now,
                    revoked_by: actor.clone(),
                    reason,
                    comment: comment.clone(),
                });
                ("certificate.revoke", Severity::High)
            }
            Transition::Unrevoke => {
                certificate.revocation = None;
                ("certificate.unrevoke", Severity::High)
            }
            Transition::Archive => {
                certificate.archived_status = Some(certificate.status);
                ("certificate.archive", Severity::Low)
            }
            Transition::Restore => {
                certificate.archived_status = None;
                ("certificate.restore", Severity::Low)
            }
            Transition::PermanentDelete => ("certificate.permanent_delete", Severity::High),
        };
        let Some(next) = next else {
            let audit = caller
                .success(
                    action,
                    id,
                    severity,
                    Some(json!({"common_name": certificate.common_name})),
                )
                .record();
            // The certificate was read inside the caller's scope.
            self.store
                .transaction(move |tx| {
                    let scope =
                        Scope::project(&certificate.organization_id, &certificate.project_id);
                    tx.certificate_delete(scope, &certificate.id)?;
                    tx.audit_insert(&audit)
                })
                .await?;
            return Ok(None);
        };
        certificate.status = next;
        certificate.updated_at = now;
        let reason = certificate.revocation_reason().map(|r| r.as_str());
        let audit = caller.success(action, id, severity, Some(json!({
            "from": previous.as_str(), "to": next.as_str(), "reason": reason, "comment": comment,
        }))).record();
        let event = match (transition, &certificate.revocation) {
            (Transition::Approve, _) => Some(certificate_event(
                EventKind::CertificateIssued,
                &certificate,
                json!({}),
            )),
            (Transition::Revoke(_), Some(revocation)) => Some(certificate_event(
                EventKind::CertificateRevoked,
                &certificate,
                json!({
                    "reason": revocation.reason.as_str(),
                    "revokedAt": timestamp::format(revocation.revoked_at),
                    "comment": revocation.comment,
                }),
            )),
            _ => None,
        };
        let certificate = self
            .store
            .transaction(move |tx| {
                save(tx, &certificate, previous)?;
                tx.audit_insert(&audit)?;
                if let Some(event) = &event {
                    webhooks::emit(tx, event)?;
                }
                Ok::<_, Error>(certificate)
            })
            .await?;
        if matches!(transition, Transition::Approve) {
            self.announce_issued(&certificate).await;
        }
        if matches!(transition, Transition::Revoke(_) | Transition::Unrevoke)
            && let Some(ca_id) = &certificate.ca_id
        {
            // The CRL follows every revocation at once.
            self.regenerate_crl(ca_id, CrlKind::Full).await?;
        }
        Ok(Some(certificate))
    }

    /// The chain above a certificate: its CA, then the CA's parents (PEM).
    pub async fn chain_pem(&self, certificate: &Certificate) -> Result<Vec<String>> {
        match &certificate.ca_id {
            Some(ca_id) => Ok(self
                .loaded_ca(Scope::organization(&certificate.organization_id), ca_id)
                .await
                .map(|ca| ca.chain_pem.clone())
                .unwrap_or_default()),
            None => Ok(Vec::new()),
        }
    }

    /// The private key of a certificate whose key was generated here (PKCS #8 DER).
    /// A key held by an external custodian is refused: it is not kept here.
    pub fn private_key_der(&self, certificate: &Certificate) -> Result<Option<Vec<u8>>> {
        if certificate.key_storage == KeyStorageMode::External {
            return Err(Error::Conflict(
                "the private key was stored in an external target (key_storage_mode external) \
                 and is not kept here"
                    .into(),
            ));
        }
        certificate
            .sealed_key
            .as_ref()
            .map(|sealed| {
                self.master
                    .open(&key_record(&certificate.id), sealed)
                    .map_err(Error::internal)
            })
            .transpose()
    }
}

/// Writes `certificate` back unless its status changed from `expected` since it was read.
pub(super) fn save(tx: &mut Tx<'_>, certificate: &Certificate, expected: Status) -> Result<()> {
    if tx.certificate_update(certificate, expected)? {
        Ok(())
    } else {
        Err(Error::Conflict(
            "the certificate changed meanwhile; read it again and retry".into(),
        ))
    }
}

fn merged_subject(
    mut base: Subject,
    overrides: Option<Subject>,
    requested_cn: Option<&str>,
) -> Subject {
    if let Some(o) = overrides {
        let pick = |new: Option<String>, old: &mut Option<String>| {
            if new.is_some() {
                *old = new;
            }
        };
        pick(o.common_name, &mut base.common_name);
        pick(o.organization, &mut base.organization);
        pick(o.organizational_unit, &mut base.organizational_unit);
        pick(o.locality, &mut base.locality);
        pick(o.state, &mut base.state);
        pick(o.country, &mut base.country);
        pick(o.email_address, &mut base.email_address);
    }
    if base.common_name.is_none() {
        base.common_name = requested_cn.map(str::to_owned);
    }
    base
}

pub(super) fn pem_of_csr(der: &[u8]) -> String {
    pem_encode("CERTIFICATE REQUEST", der)
}

fn csr_der_of(pem: &str) -> Result<Vec<u8>> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(Error::internal)?;
    Ok(block.contents)
}

/// PEM with 64-character lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
