//! mTLS certificates (reference 000): RSA client/server certificates made in one call,
//! signed by the project's own mTLS CA, which is created on first use. They are ordinary
//! certificates (`source` = `mtls`): the `/api/v1/certificates` routes see them too.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

use super::Pki;
use super::authorities::{CreateCa, LoadedCa};
use super::certificates::{key_record, pem_of_csr, save};
use super::csr::Possession;
use super::webhook_events::certificate_event;
use crate::audit::Severity;
use crate::auth::Caller;
use crate::model::{
    CaKind, Certificate, CertificateSource, CrlKind, KeyAlgorithm, KeyStorageMode, KeyType,
    NewCertificate, Project, RSA_SIZES, Revocation, RevocationReason, SanSet, Status, Subject,
};
use crate::store::Scope;
use crate::tenancy::DEFAULT_PROJECT;
use crate::webhooks::{self, EventKind};
use crate::{Error, Result, timestamp};

pub const DEFAULT_MTLS_KEY_SIZE: u32 = 4096;
pub const DEFAULT_MTLS_VALIDITY_DAYS: u32 = 365;
pub const MAX_MTLS_VALIDITY_DAYS: u32 = 3650;
/// A certificate is "expiring soon" this many days before it ends.
pub const EXPIRING_SOON_DAYS: i64 = 30;
/// The mTLS CA outlives every certificate it may sign for its first ten years.
const MTLS_CA_VALIDITY_DAYS: u32 = 7300;
const KEY_USAGE: &[&str] = &["digital_signature", "key_encipherment"];
const EXTENDED_KEY_USAGE: &[&str] = &["client_auth", "server_auth"];

/// What `POST /api/certificates/mtls/generate` asks for.
#[derive(Debug, Default)]
pub struct MtlsRequest {
    pub project_id: Option<String>,
    pub domain: String,
    pub organization: Option<String>,
    pub country: Option<String>,
    pub key_size: Option<u32>,
    pub validity_days: Option<u32>,
    pub tags: Option<Vec<String>>,
}

/// The name of a project's mTLS CA.
pub fn mtls_ca_name(project_id: &str) -> String {
    format!("mtls-{project_id}")
}

impl Pki {
    /// The project (account) a request works in: `project_id` when given, else the
    /// caller's own project for a project-scoped key, else the organization's `default`.
    pub async fn account(&self, caller: &Caller, project_id: Option<&str>) -> Result<Project> {
        let found = match (project_id, caller.principal.project_id.as_deref()) {
            (Some(id), _) | (None, Some(id)) => {
                if !caller.principal.sees_project(id) {
                    None
                } else {
                    self.store.project_get(caller.scope(), id).await?
                }
            }
            (None, None) => {
                return self
                    .store
                    .project_by_name(caller.scope(), DEFAULT_PROJECT)
                    .await?
                    .ok_or_else(|| {
                        Error::bad_request(
                            "projectId",
                            format!(
                                "required: this organization has no project named '{DEFAULT_PROJECT}'"
                            ),
                        )
                    });
            }
        };
        found
            .ok_or_else(|| Error::NotFound(format!("project '{}'", project_id.unwrap_or_default())))
    }

    pub async fn mtls_list(
        &self,
        caller: &Caller,
        project_id: Option<&str>,
    ) -> Result<Vec<Certificate>> {
        let project = self.account(caller, project_id).await?;
        Ok(self
            .store
            .certificates_by_source(
                Scope::project(caller.organization_id(), &project.id),
                CertificateSource::Mtls,
            )
            .await?)
    }

    /// An mTLS certificate the caller may see; deleted (archived) ones are gone.
    pub async fn mtls_get(&self, caller: &Caller, id: &str) -> Result<Certificate> {
        let certificate = self.get_certificate(caller, id).await?;
        if certificate.source != CertificateSource::Mtls || certificate.status == Status::Archived {
            return Err(Error::NotFound(format!("certificate '{id}'")));
        }
        Ok(certificate)
    }

    pub async fn mtls_generate(
        &self,
        caller: &Caller,
        request: MtlsRequest,
    ) -> Result<Certificate> {
        let subject = mtls_subject(&request)?;
        let key_size = request.key_size.unwrap_or(DEFAULT_MTLS_KEY_SIZE);
        if !RSA_SIZES.contains(&key_size) {
            return Err(Error::bad_request(
                "keySize",
                format!("{key_size} is not 2048, 3072 or 4096"),
            ));
        }
        let validity_days = request.validity_days.unwrap_or(DEFAULT_MTLS_VALIDITY_DAYS);
        if !(1..=MAX_MTLS_VALIDITY_DAYS).contains(&validity_days) {
            return Err(Error::bad_request(
                "validityDays",
                format!("must be between 1 and {MAX_MTLS_VALIDITY_DAYS}"),
            ));
        }
        let tags = check_tags(request.tags.unwrap_or_default())?;
        let project = self.account(caller, request.project_id.as_deref()).await?;
        let properties = Map::from_iter([("tags".to_owned(), Value::from(tags))]);
        let certificate = self
            .mtls_issue(
                caller,
                &project,
                subject,
                key_size,
                validity_days,
                properties,
                None,
            )
            .await?;
        Ok(certificate)
    }

    /// A new certificate with the same domain and settings; the old one is revoked
    /// (superseded) and removed with its key.
    pub async fn mtls_renew(&self, caller: &Caller, id: &str) -> Result<Certificate> {
        let old = self.mtls_get(caller, id).await?;
        if old.status != Status::Active {
            return Err(Error::Conflict(format!(
                "only an active certificate can be renewed; this one is {}",
                old.status
            )));
        }
        let key_size = match old.key_type.algorithm() {
            Some(KeyAlgorithm::Rsa(bits)) => bits,
            _ => DEFAULT_MTLS_KEY_SIZE,
        };
        let validity_days = Some(old.validity_days)
            .filter(|d| (1..=MAX_MTLS_VALIDITY_DAYS).contains(d))
            .unwrap_or(DEFAULT_MTLS_VALIDITY_DAYS);
        let project = self.account(caller, Some(&old.project_id)).await?;
        let new = self
            .mtls_issue(
                caller,
                &project,
                old.subject.clone(),
                key_size,
                validity_days,
                old.properties.clone(),
                Some(old.id.clone()),
            )
            .await?;
        self.retire(caller, old, RevocationReason::Superseded)
            .await?;
        Ok(new)
    }

    /// Deletes an mTLS certificate and its private key. The certificate is revoked
    /// (cessationOfOperation) first, so that relying parties stop trusting copies of it;
    /// its record stays archived under `/api/v1/certificates` for the CRL and the audit trail.
    pub async fn mtls_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let certificate = self.mtls_get(caller, id).await?;
        let domain = certificate.common_name.clone();
        self.retire(caller, certificate, RevocationReason::CessationOfOperation)
            .await?;
        self.audit
            .record(caller.success(
                "mtls.delete",
                id,
                Severity::High,
                Some(json!({ "domain": domain, "private_key_deleted": true })),
            ))
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn mtls_issue(
        &self,
        caller: &Caller,
        project: &Project,
        subject: Subject,
        key_size: u32,
        validity_days: u32,
        properties: Map<String, Value>,
        renewed_from: Option<String>,
    ) -> Result<Certificate> {
        let ca = self.mtls_ca(caller, project).await?;
        let san = san_for(subject.common_name.as_deref().unwrap_or_default());
        let algorithm = KeyAlgorithm::Rsa(key_size);
        let (key, parsed) = Self::generate_key(algorithm, subject.clone(), san.clone()).await?;
        let csr_der = parsed.der;
        let csr_pem = pem_of_csr(&csr_der);
        let id = crate::model::new_id();
        let now = timestamp::now();
        let mut certificate = Certificate::granted(NewCertificate {
            sealed_key: Some(self.master.seal(&key_record(&id), key.serialized_der())),
            id,
            organization_id: caller.organization_id().to_owned(),
            project_id: project.id.clone(),
            source: CertificateSource::Mtls,
            ca_id: Some(ca.authority.id.clone()),
            template_id: None,
            common_name: subject.common_name.clone().unwrap_or_default(),
            subject,
            san,
            key_type: KeyType::Known(algorithm),
            key_storage: KeyStorageMode::Local,
            validity_days,
            csr_pem: Some(csr_pem),
            requested_by: caller.principal.actor(),
            requested_at: now,
        });
        certificate.properties = properties;
        certificate.renewed_from = renewed_from;
        let usages = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        self.sign_with_usages(
            &mut certificate,
            &usages(KEY_USAGE),
            &usages(EXTENDED_KEY_USAGE),
            &csr_der,
            Possession::Proven,
        )
        .await?;
        // Announced like every other certificate: issued, or renewed from its predecessor.
        let (audit, event) = match &certificate.renewed_from {
            None => (
                caller
                    .success(
                        "mtls.generate",
                        &certificate.id,
                        Severity::Medium,
                        Some(json!({
                            "domain": certificate.common_name,
                            "key_type": certificate.key_type.label(),
                            "project_id": project.id,
                        })),
                    )
                    .record(),
                certificate_event(EventKind::CertificateIssued, &certificate, json!({})),
            ),
            Some(old) => (
                caller
                    .success(
                        "mtls.renew",
                        &certificate.id,
                        Severity::Medium,
                        Some(json!({ "renewed_from": old, "domain": certificate.common_name })),
                    )
                    .record(),
                certificate_event(
                    EventKind::CertificateRenewed,
                    &certificate,
                    json!({ "renewedFrom": old, "newKey": true }),
                ),
            ),
        };
        self.commit_issuance(certificate, audit, Some(event)).await
    }

    /// The project's mTLS CA, created on first use (a root, ECDSA P-256, 20 years).
    async fn mtls_ca(&self, caller: &Caller, project: &Project) -> Result<Arc<LoadedCa>> {
        let name = mtls_ca_name(&project.id);
        // One creator at a time on this node; the unique CA name settles it across nodes.
        let _guard = self.mtls_ca_lock.lock().await;
        let existing = self.store.ca_by_name(caller.scope(), &name).await?;
        let ca_id = match existing {
            Some(ca) => ca.id,
            None => {
                let created = self
                    .create_ca(
                        caller,
                        CreateCa {
                            name: name.clone(),
                            kind: CaKind::Root,
                            parent_id: None,
                            subject: Subject {
                                common_name: Some(format!("{} mTLS CA", project.name)),
                                organization: Some("Keystead".into()),
                                ..Subject::default()
                            },
                            key: KeyAlgorithm::EcdsaP256,
                            validity_days: MTLS_CA_VALIDITY_DAYS,
                        },
                    )
                    .await;
                match created {
                    Ok(ca) => ca.id,
                    Err(Error::Conflict(_)) => self
                        .store
                        .ca_by_name(caller.scope(), &name)
                        .await?
                        .map(|ca| ca.id)
                        .ok_or_else(|| Error::internal(anyhow::anyhow!("mTLS CA vanished")))?,
                    Err(err) => return Err(err),
                }
            }
        };
        self.loaded_ca(caller.scope(), &ca_id).await
    }

    /// Revokes an active certificate, wipes its private key and archives it, in one write.
    async fn retire(
        &self,
        caller: &Caller,
        mut certificate: Certificate,
        reason: RevocationReason,
    ) -> Result<()> {
        let previous = certificate.status;
        let now = timestamp::now();
        let newly_revoked = certificate.status == Status::Active;
        if newly_revoked {
            certificate.revocation = Some(Revocation {
                revoked_at: now,
                revoked_by: caller.principal.actor(),
                reason,
                comment: None,
            });
            certificate.status = Status::Revoked;
        }
        certificate.archived_status = Some(certificate.status);
        certificate.status = Status::Archived;
        certificate.sealed_key = None;
        certificate.updated_at = now;
        let event = newly_revoked.then(|| {
            certificate_event(
                EventKind::CertificateRevoked,
                &certificate,
                json!({"reason": reason.as_str(), "revokedAt": timestamp::format(now)}),
            )
        });
        let ca_id = certificate.ca_id.clone();
        self.store
            .transaction(move |tx| {
                save(tx, &certificate, previous)?;
                if let Some(event) = &event {
                    webhooks::emit(tx, event)?;
                }
                Ok::<_, Error>(())
            })
            .await?;
        if newly_revoked && let Some(ca_id) = &ca_id {
            self.regenerate_crl(ca_id, CrlKind::Full).await?;
        }
        Ok(())
    }
}

/// `expired`, `expiringSoon` as the mTLS list shows them.
pub fn expiry_flags(not_after: Option<OffsetDateTime>) -> (bool, bool) {
    let now = OffsetDateTime::now_utc();
    match not_after {
        Some(end) if end < now => (true, false),
        Some(end) => (false, end < now + Duration::days(EXPIRING_SOON_DAYS)),
        None => (false, false),
    }
}

fn mtls_subject(request: &MtlsRequest) -> Result<Subject> {
    let text = |field: &str, value: &str, max: usize| -> Result<String> {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
            return Err(Error::bad_request(
                field,
                format!("must be 1 to {max} printable characters"),
            ));
        }
        Ok(value.to_owned())
    };
    let domain = text("domain", &request.domain, 64)?;
    let organization = request
        .organization
        .as_deref()
        .map(|o| text("organization", o, 64))
        .transpose()?;
    let country = match request.country.as_deref() {
        None => None,
        Some(c) if c.len() == 2 && c.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(_) => {
            return Err(Error::bad_request(
                "country",
                "must be a two-letter ISO 3166 code, e.g. US",
            ));
        }
    };
    Ok(Subject {
        common_name: Some(domain),
        organization,
        country,
        ..Subject::default()
    })
}

/// The domain as a subject alternative name when it is a host name or an IP address.
fn san_for(domain: &str) -> SanSet {
    let candidate = if domain.parse::<std::net::IpAddr>().is_ok() {
        SanSet {
            ip_addresses: vec![domain.to_owned()],
            ..SanSet::default()
        }
    } else {
        SanSet {
            dns_names: vec![domain.to_owned()],
            ..SanSet::default()
        }
    };
    candidate.normalize().unwrap_or_default()
}

fn check_tags(tags: Vec<String>) -> Result<Vec<String>> {
    if tags.len() > 64 || tags.iter().any(|t| t.is_empty() || t.chars().count() > 64) {
        return Err(Error::bad_request(
            "tags",
            "at most 64 tags of 1 to 64 characters",
        ));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_names() {
        let request = MtlsRequest {
            domain: "api.example.com".into(),
            country: Some("us".into()),
            ..MtlsRequest::default()
        };
        let subject = mtls_subject(&request).unwrap();
        assert_eq!(subject.country.as_deref(), Some("US"));
        assert_eq!(san_for("api.example.com").dns_names, ["api.example.com"]);
        assert_eq!(san_for("10.0.0.1").ip_addresses, ["10.0.0.1"]);
        assert!(san_for("client 42").is_empty());
        let bad = MtlsRequest {
            domain: "a".into(),
            country: Some("USA".into()),
            ..MtlsRequest::default()
        };
        assert!(mtls_subject(&bad).is_err());
        assert!(mtls_subject(&MtlsRequest::default()).is_err());
    }

    #[test]
    fn expiry_flags_follow_the_dates() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(expiry_flags(Some(now + Duration::days(3))), (false, true));
        assert_eq!(
            expiry_flags(Some(now + Duration::days(300))),
            (false, false)
        );
        assert_eq!(expiry_flags(Some(now - Duration::days(1))), (true, false));
        assert_eq!(expiry_flags(None), (false, false));
    }
}
