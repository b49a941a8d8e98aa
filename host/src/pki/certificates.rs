//! Certificate requests and the lifecycle of what they become.

use std::sync::Arc;

use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::CrlKind;
use super::Pki;
use super::csr::{self, ParsedCsr};
use super::events::KeyCustody;
use super::issue::{self, LeafProfile};
use super::keys::KeyAlgorithm;
use super::lifecycle::{self, RevocationReason, Status, Transition};
use super::names::{SanSet, Subject};
use super::template::{ApprovalMode, RequestFacts, TemplateRules};
use super::templates::rules_of;
use super::validators::ValidationInput;
use super::webhook_events::certificate_event;
use crate::audit::Severity;
use crate::auth::Caller;
use crate::crypto::Sealed;
use crate::store::{CertificateFilter, CertificateRow, WriteTx};
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

#[derive(Debug, Default)]
pub struct CertificateQuery {
    pub project_id: Option<String>,
    pub status: Option<String>,
    pub ca_id: Option<String>,
    pub common_name: Option<String>,
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

/// `source` of a certificate signed here from a request.
pub const SOURCE_ISSUED: &str = "issued";
/// `source` of a certificate that came from elsewhere.
pub const SOURCE_IMPORTED: &str = "imported";
/// `source` of a certificate made by the mTLS API.
pub const SOURCE_MTLS: &str = "mtls";

pub(super) fn key_record(certificate_id: &str) -> String {
    format!("certificate:{certificate_id}")
}

impl Pki {
    pub async fn submit(&self, caller: &Caller, request: SubmitRequest) -> Result<CertificateRow> {
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
        let rules = rules_of(&template)?;
        let project_id = self.resolve_project(caller, request.project_id).await?;
        let validity_days = request.validity_days.unwrap_or(rules.default_validity_days);
        if validity_days == 0 {
            return Err(Error::bad_request("validity_days", "must be at least 1"));
        }

        let id = Uuid::new_v4().to_string();
        // The template was checked before the key was made (generated modes).
        let mut checked = false;
        // A key that leaves this server: its custodian and the key (PEM).
        let mut external: Option<(Arc<dyn KeyCustody>, String)> = None;
        let (parsed, sealed_key, key_storage_mode) = match request.mode {
            SubmitMode::UploadedCsr { csr_pem } => {
                (csr::parse_pem("csr_pem", &csr_pem)?, None, "none")
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
                let subject = merged_subject(
                    Subject::default(),
                    request.requested_subject.clone(),
                    request.requested_cn.as_deref(),
                );
                subject.validate()?;
                let san = request
                    .requested_san
                    .clone()
                    .unwrap_or_default()
                    .normalize()?;
                // Check the template before spending time on key generation.
                self.check_template(
                    caller,
                    &template.name,
                    &rules,
                    &project_id,
                    &subject,
                    &san,
                    algorithm,
                    validity_days,
                )
                .await?;
                let key = algorithm.generate()?;
                let pem = csr::make(&subject, &san, &key)?;
                checked = true;
                match storage {
                    KeyStorage::Local => {
                        let sealed = self.master.seal(&key_record(&id), key.serialized_der());
                        (csr::parse_pem("csr_pem", &pem)?, Some(sealed.0), "local")
                    }
                    KeyStorage::External(custody) => {
                        external = Some((custody, pem_encode("PRIVATE KEY", key.serialized_der())));
                        (csr::parse_pem("csr_pem", &pem)?, None, "external")
                    }
                }
            }
        };
        let ParsedCsr {
            subject,
            san,
            key,
            der,
        } = parsed;
        let subject = merged_subject(
            subject,
            request.requested_subject,
            request.requested_cn.as_deref(),
        );
        subject.validate()?;
        let mut san = san;
        if let Some(extra) = request.requested_san {
            san.dns_names.extend(extra.dns_names);
            san.ip_addresses.extend(extra.ip_addresses);
            san.email_addresses.extend(extra.email_addresses);
            san.uris.extend(extra.uris);
        }
        let mut san = san.normalize()?;
        san.dns_names.dedup();
        if !checked {
            self.check_template(
                caller,
                &template.name,
                &rules,
                &project_id,
                &subject,
                &san,
                key,
                validity_days,
            )
            .await?;
        }
        let common_name = subject
            .common_name
            .clone()
            .or_else(|| san.dns_names.first().cloned())
            .unwrap_or_default();
        let now = timestamp::now_string();
        let mut row = CertificateRow {
            id: id.clone(),
            organization_id: caller.organization_id().to_owned(),
            project_id,
            ca_id: Some(template.ca_id.clone()),
            template_id: Some(template.id.clone()),
            status: Status::PendingApproval.as_str().into(),
            archived_status: None,
            common_name,
            subject: serde_json::to_string(&subject).map_err(Error::internal)?,
            san: serde_json::to_string(&san).map_err(Error::internal)?,
            key_type: key.label(),
            key_storage_mode: key_storage_mode.into(),
            validity_days: i64::from(validity_days),
            csr_pem: pem_of_csr(&der),
            serial_number: None,
            certificate_der: None,
            sealed_key,
            fingerprint_sha256: None,
            issuer_cn: None,
            not_before: None,
            not_after: None,
            requested_by: caller.principal.actor(),
            requested_at: now.clone(),
            decided_by: None,
            decided_at: None,
            rejection_reason: None,
            revoked_at: None,
            revoked_by: None,
            revocation_reason: None,
            revocation_comment: None,
            properties: "{}".into(),
            created_at: now.clone(),
            updated_at: now,
            renewed_from: None,
            source: SOURCE_ISSUED.into(),
            chain_pem: None,
        };
        if rules.approval == ApprovalMode::Automatic {
            self.sign_into(&mut row, &rules, &der).await?;
            row.status = Status::Active.as_str().into();
            row.decided_by = Some("template:automatic".into());
            row.decided_at = Some(timestamp::now_string());
        }
        if let Some((custody, key_pem)) = &external {
            // The key leaves before anything is stored: if it cannot, nothing is kept.
            let chain = if row.certificate_der.is_some() {
                self.chain_pem(&row).await?
            } else {
                Vec::new()
            };
            custody.deposit(&row, &chain, key_pem).await?;
        }
        // The certificate, its audit event and its webhook event commit together.
        let mut tx = self.store.write().await?;
        tx.certificate_insert(&row).await?;
        Self::record_in(
            &mut tx,
            caller,
            "certificate.request",
            &row.id,
            Severity::Low,
            Some(json!({
                "template": template.name, "common_name": row.common_name, "status": row.status,
                "key_storage_mode": row.key_storage_mode,
            })),
        )
        .await?;
        if row.status == Status::Active.as_str() {
            webhooks::emit(
                &mut tx,
                &certificate_event(EventKind::CertificateIssued, &row, json!({})),
            )
            .await?;
        }
        tx.commit().await?;
        if let Some((custody, _)) = external {
            self.record(
                caller,
                "certificate.key_deposit",
                &row.id,
                Severity::High,
                Some(json!({ "destination": custody.describe() })),
            )
            .await?;
            if let Err(err) = custody.adopt(&row).await {
                tracing::warn!(certificate = %row.id, error = %err, "cannot record the key's custodian as a rotation target");
            }
        }
        Ok(row)
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

    /// Signs the request held in `row` with its template's CA.
    pub(super) async fn sign_into(
        &self,
        row: &mut CertificateRow,
        rules: &TemplateRules,
        csr_der: &[u8],
    ) -> Result<()> {
        self.sign_with_usages(row, &rules.key_usage, &rules.extended_key_usage, csr_der)
            .await
    }

    /// Signs the request held in `row` with the CA it names, with these key usages.
    pub(super) async fn sign_with_usages(
        &self,
        row: &mut CertificateRow,
        key_usage: &[String],
        extended_key_usage: &[String],
        csr_der: &[u8],
    ) -> Result<()> {
        let ca_id = row.ca_id.clone().unwrap_or_default();
        let ca = self.loaded_ca(&row.organization_id, &ca_id).await?;
        let subject: Subject = serde_json::from_str(&row.subject).map_err(Error::internal)?;
        let san: SanSet = serde_json::from_str(&row.san).map_err(Error::internal)?;
        let validity_days = u32::try_from(row.validity_days).unwrap_or(1);
        if let Some(ca_end) = ca.row.not_after.as_deref().and_then(timestamp::parse)
            && OffsetDateTime::now_utc() + Duration::days(i64::from(validity_days)) > ca_end
        {
            return Err(Error::Unprocessable(vec![format!(
                "validity of {validity_days} days would outlive the CA, which ends {}",
                timestamp::format(ca_end)
            )]));
        }
        let signed = issue::leaf(
            &LeafProfile {
                subject: &subject,
                san: &san,
                validity_days,
                key_usage,
                extended_key_usage,
            },
            csr_der,
            &ca.issuer,
            &ca.urls,
        )?;
        let ca_subject: Subject = serde_json::from_str(&ca.row.subject).unwrap_or_default();
        row.issuer_cn = ca_subject.common_name;
        row.serial_number = Some(signed.serial_number);
        row.certificate_der = Some(signed.der);
        row.fingerprint_sha256 = Some(signed.fingerprint_sha256);
        row.not_before = Some(timestamp::format(signed.not_before));
        row.not_after = Some(timestamp::format(signed.not_after));
        Ok(())
    }

    pub async fn get_certificate(&self, caller: &Caller, id: &str) -> Result<CertificateRow> {
        self.store
            .certificate_get(caller.organization_id(), id)
            .await?
            .filter(|row| caller.principal.sees_project(&row.project_id))
            .ok_or_else(|| Error::NotFound(format!("certificate '{id}'")))
    }

    pub async fn list_certificates(
        &self,
        caller: &Caller,
        query: CertificateQuery,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<CertificateRow>, i64)> {
        let now = OffsetDateTime::now_utc();
        let mut filter = CertificateFilter {
            organization_id: caller.organization_id().to_owned(),
            project_id: query.project_id,
            ca_id: query.ca_id,
            common_name: query.common_name,
            now: timestamp::format(now),
            ..CertificateFilter::default()
        };
        if let Some(mine) = &caller.principal.project_id {
            if filter.project_id.as_ref().is_some_and(|p| p != mine) {
                return Ok((Vec::new(), 0));
            }
            filter.project_id = Some(mine.clone());
        }
        match query.status.as_deref() {
            None => {}
            Some("expired") => {
                filter.status = Some("active".into());
                filter.expired = Some(true);
            }
            Some("active") => {
                filter.status = Some("active".into());
                filter.expired = Some(false);
            }
            Some(other) if LIST_STATUSES.contains(&other) => filter.status = Some(other.into()),
            Some(other) => {
                return Err(Error::bad_request(
                    "status",
                    format!("'{other}' is not one of {}", LIST_STATUSES.join(", ")),
                ));
            }
        }
        if let Some(source) = query.source {
            if ![SOURCE_ISSUED, SOURCE_IMPORTED, SOURCE_MTLS].contains(&source.as_str()) {
                return Err(Error::bad_request(
                    "source",
                    format!(
                        "'{source}' is not one of {SOURCE_ISSUED}, {SOURCE_IMPORTED}, {SOURCE_MTLS}"
                    ),
                ));
            }
            filter.source = Some(source);
        }
        if let Some(days) = query.expiring_within_days {
            if !(0..=36500).contains(&days) {
                return Err(Error::bad_request(
                    "expiring_within_days",
                    "must be between 0 and 36500",
                ));
            }
            filter.not_after_before = Some(timestamp::format(now + Duration::days(days)));
            if filter.expired.is_none() {
                filter.expired = Some(false);
            }
        }
        Ok(self.store.certificate_list(&filter, offset, limit).await?)
    }

    pub async fn update_properties(
        &self,
        caller: &Caller,
        id: &str,
        properties: serde_json::Value,
    ) -> Result<CertificateRow> {
        let mut row = self.get_certificate(caller, id).await?;
        let previous = row.status.clone();
        row.properties = properties.to_string();
        row.updated_at = timestamp::now_string();
        let mut tx = self.store.write().await?;
        save(&mut tx, &row, &previous).await?;
        Self::record_in(
            &mut tx,
            caller,
            "certificate.update",
            id,
            Severity::Low,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Applies a lifecycle transition decided by [`lifecycle::next`].
    pub async fn transition(
        &self,
        caller: &Caller,
        id: &str,
        transition: Transition,
        comment: Option<String>,
    ) -> Result<Option<CertificateRow>> {
        let mut row = self.get_certificate(caller, id).await?;
        let current = Status::parse(&row.status)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("bad status {}", row.status)))?;
        let held =
            row.revocation_reason.as_deref() == Some(RevocationReason::CertificateHold.as_str());
        let archived_from = row.archived_status.as_deref().and_then(Status::parse);
        let next =
            lifecycle::next(current, held, archived_from, transition).map_err(Error::Conflict)?;
        let previous = row.status.clone();
        let now = timestamp::now_string();
        let actor = caller.principal.actor();
        let (action, severity) = match transition {
            Transition::Approve => {
                let template_id = row.template_id.clone().unwrap_or_default();
                let rules = rules_of(&self.get_template(caller, &template_id).await?)?;
                if !rules.allow_self_approval && row.requested_by == actor {
                    return Err(Error::Denied(
                        "the requester cannot approve their own request under this template".into(),
                    ));
                }
                let der = csr_der_of(&row.csr_pem)?;
                self.sign_into(&mut row, &rules, &der).await?;
                row.decided_by = Some(actor.clone());
                row.decided_at = Some(now.clone());
                ("certificate.approve", Severity::Medium)
            }
            Transition::Reject => {
                row.decided_by = Some(actor.clone());
                row.decided_at = Some(now.clone());
                row.rejection_reason = comment.clone();
                row.sealed_key = None;
                ("certificate.reject", Severity::Low)
            }
            Transition::Revoke(reason) => {
                row.revoked_at = Some(now.clone());
                row.revoked_by = Some(actor.clone());
                row.revocation_reason = Some(reason.as_str().into());
                row.revocation_comment = comment.clone();
                ("certificate.revoke", Severity::High)
            }
            Transition::Unrevoke => {
                row.revoked_at = None;
                row.revoked_by = None;
                row.revocation_reason = None;
                row.revocation_comment = None;
                ("certificate.unrevoke", Severity::High)
            }
            Transition::Archive => {
                row.archived_status = Some(row.status.clone());
                ("certificate.archive", Severity::Low)
            }
            Transition::Restore => {
                row.archived_status = None;
                ("certificate.restore", Severity::Low)
            }
            Transition::PermanentDelete => ("certificate.permanent_delete", Severity::High),
        };
        let mut tx = self.store.write().await?;
        let Some(next) = next else {
            tx.certificate_delete(caller.organization_id(), id).await?;
            Self::record_in(
                &mut tx,
                caller,
                action,
                id,
                severity,
                Some(json!({"common_name": row.common_name})),
            )
            .await?;
            tx.commit().await?;
            return Ok(None);
        };
        row.status = next.as_str().into();
        row.updated_at = now;
        save(&mut tx, &row, &previous).await?;
        Self::record_in(&mut tx, caller, action, id, severity, Some(json!({
            "from": previous, "to": row.status, "reason": row.revocation_reason, "comment": comment,
        })))
        .await?;
        let event = match transition {
            Transition::Approve => Some(certificate_event(
                EventKind::CertificateIssued,
                &row,
                json!({}),
            )),
            Transition::Revoke(_) => Some(certificate_event(
                EventKind::CertificateRevoked,
                &row,
                json!({
                    "reason": row.revocation_reason, "revokedAt": row.revoked_at,
                    "comment": row.revocation_comment,
                }),
            )),
            _ => None,
        };
        if let Some(event) = event {
            webhooks::emit(&mut tx, &event).await?;
        }
        tx.commit().await?;
        if matches!(transition, Transition::Approve) {
            self.announce_issued(&row).await;
        }
        if matches!(transition, Transition::Revoke(_) | Transition::Unrevoke)
            && let Some(ca_id) = &row.ca_id
        {
            // The CRL follows every revocation at once.
            self.regenerate_crl(ca_id, CrlKind::Full).await?;
        }
        Ok(Some(row))
    }

    /// The chain above a certificate: its CA, then the CA's parents (PEM).
    pub async fn chain_pem(&self, row: &CertificateRow) -> Result<Vec<String>> {
        match &row.ca_id {
            Some(ca_id) => Ok(self
                .loaded_ca(&row.organization_id, ca_id)
                .await
                .map(|ca| ca.chain_pem.clone())
                .unwrap_or_default()),
            None => Ok(Vec::new()),
        }
    }

    /// The private key of a certificate whose key was generated here (PKCS #8 DER).
    /// A key held by an external custodian is refused: it is not kept here.
    pub fn private_key_der(&self, row: &CertificateRow) -> Result<Option<Vec<u8>>> {
        if row.key_storage_mode == "external" {
            return Err(Error::Conflict(
                "the private key was stored in an external target (key_storage_mode external) \
                 and is not kept here"
                    .into(),
            ));
        }
        row.sealed_key
            .as_ref()
            .map(|sealed| {
                self.master
                    .open(&key_record(&row.id), &Sealed(sealed.clone()))
                    .map_err(Error::internal)
            })
            .transpose()
    }
}

/// Writes `row` back unless its status changed since it was read.
pub(super) async fn save(
    tx: &mut WriteTx,
    row: &CertificateRow,
    expected_status: &str,
) -> Result<()> {
    if tx.certificate_update(row, expected_status).await? {
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

fn pem_of_csr(der: &[u8]) -> String {
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
