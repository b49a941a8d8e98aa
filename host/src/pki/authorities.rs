//! Certificate authorities: roots, intermediates signed here, and intermediates whose
//! certificate comes from an outside parent.

use std::sync::Arc;

use rcgen::{Issuer, KeyPair, PublicKeyData};
use serde_json::json;
use uuid::Uuid;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::Pki;
use super::issue::{self, CaUrls};
use super::keys::load_key;
use crate::audit::Severity;
use crate::auth::Caller;
use crate::model::{CaKind, CaStatus, CertificateAuthority, KeyAlgorithm, Subject};
use crate::store::{Scope, StoreError};
use crate::{Error, Result, timestamp};

#[derive(Debug)]
pub struct CreateCa {
    pub name: String,
    pub kind: CaKind,
    /// For an intermediate: the parent CA here. `None` means an outside parent signs it.
    pub parent_id: Option<String>,
    pub subject: Subject,
    pub key: KeyAlgorithm,
    pub validity_days: u32,
}

/// A CA ready to sign: its record, its key and its chain up to the root (PEM, leaf-most first).
pub struct LoadedCa {
    pub authority: CertificateAuthority,
    pub issuer: Issuer<'static, KeyPair>,
    pub chain_pem: Vec<String>,
    pub urls: CaUrls,
}

pub const DEFAULT_CA_VALIDITY_DAYS: u32 = 3650;

fn key_record(ca_id: &str) -> String {
    format!("ca:{ca_id}")
}

impl Pki {
    pub fn ca_urls(&self, ca_id: &str) -> CaUrls {
        CaUrls::for_ca(&self.base_url, ca_id)
    }

    pub async fn create_ca(
        &self,
        caller: &Caller,
        request: CreateCa,
    ) -> Result<CertificateAuthority> {
        let name = crate::tenancy::validate_name("name", request.name)?;
        request.subject.validate()?;
        if request.subject.common_name.is_none() {
            return Err(Error::bad_request(
                "subject.common_name",
                "a CA needs a common name",
            ));
        }
        if !(1..=9125).contains(&request.validity_days) {
            return Err(Error::bad_request(
                "validity_days",
                "must be between 1 and 9125 (25 years)",
            ));
        }
        let org = caller.organization_id();
        let id = Uuid::new_v4().to_string();
        let key = request.key.generate()?;
        let now = timestamp::now();
        let mut ca = CertificateAuthority {
            id: id.clone(),
            organization_id: org.to_owned(),
            name,
            kind: request.kind,
            parent_id: request.parent_id.clone(),
            status: CaStatus::Active,
            key_algorithm: request.key,
            subject: request.subject.clone(),
            certificate_pem: None,
            csr_pem: None,
            sealed_key: self.master.seal(&key_record(&id), key.serialized_der()),
            serial_number: None,
            not_before: None,
            not_after: None,
            created_at: now,
            updated_at: now,
        };
        let signed = match (request.kind, &request.parent_id) {
            (CaKind::Root, Some(_)) => {
                return Err(Error::bad_request("parent_id", "a root CA has no parent"));
            }
            (CaKind::Root, None) => Some(issue::self_signed_ca(
                &request.subject,
                request.validity_days,
                &key,
            )?),
            (CaKind::Intermediate, Some(parent_id)) => {
                let parent = self.loaded_ca(caller.scope(), parent_id).await?;
                if let Some(parent_end) = parent.authority.not_after {
                    let end = time::OffsetDateTime::now_utc()
                        + time::Duration::days(i64::from(request.validity_days));
                    if end > parent_end {
                        return Err(Error::bad_request(
                            "validity_days",
                            format!(
                                "the intermediate would outlive its parent (which ends {})",
                                timestamp::format(parent_end)
                            ),
                        ));
                    }
                }
                Some(issue::intermediate_ca(
                    &request.subject,
                    request.validity_days,
                    &key,
                    &parent.issuer,
                    &parent.urls,
                )?)
            }
            (CaKind::Intermediate, None) => {
                ca.status = CaStatus::PendingCertificate;
                ca.csr_pem = Some(super::csr::make(
                    &request.subject,
                    &Default::default(),
                    &key,
                )?);
                None
            }
        };
        if let Some(signed) = signed {
            ca.certificate_pem = Some(signed.pem);
            ca.serial_number = Some(signed.serial_number);
            ca.not_before = Some(signed.not_before);
            ca.not_after = Some(signed.not_after);
        }
        self.store
            .ca_insert(ca.clone())
            .await
            .map_err(|err| match err {
                StoreError::Conflict => Error::Conflict(format!("a CA named '{}' exists", ca.name)),
                other => other.into(),
            })?;
        self.audit.record(caller.success("ca.create", &ca.id, Severity::High, Some(json!({
            "name": ca.name, "kind": ca.kind.as_str(), "key_algorithm": ca.key_algorithm.label(),
            "parent_id": ca.parent_id,
        }))))
        .await?;
        Ok(ca)
    }

    /// Completes an intermediate whose certificate an outside parent signed.
    pub async fn upload_ca_certificate(
        &self,
        caller: &Caller,
        id: &str,
        certificate_pem: &str,
    ) -> Result<CertificateAuthority> {
        let mut ca = self.get_ca(caller, id).await?;
        if ca.status != CaStatus::PendingCertificate {
            return Err(Error::Conflict(format!(
                "CA '{}' is {}, not waiting for a certificate",
                ca.name, ca.status
            )));
        }
        let der = pem_certificate_der("certificate_pem", certificate_pem)?;
        let key = self.ca_key(&ca)?;
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|_| Error::bad_request("certificate_pem", "not a valid X.509 certificate"))?;
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(Error::bad_request(
                "certificate_pem",
                "the certificate is not for this CA's key",
            ));
        }
        if !cert.is_ca() {
            return Err(Error::bad_request(
                "certificate_pem",
                "the certificate is not a CA certificate (basicConstraints cA is false)",
            ));
        }
        ca.status = CaStatus::Active;
        ca.certificate_pem = Some(certificate_pem.trim().to_owned() + "\n");
        ca.serial_number = Some(issue::format_serial(cert.raw_serial()));
        ca.not_before = Some(cert.validity().not_before.to_datetime());
        ca.not_after = Some(cert.validity().not_after.to_datetime());
        ca.updated_at = timestamp::now();
        self.store.ca_update(ca.clone()).await?;
        self.forget_ca(id);
        self.audit
            .record(caller.success("ca.certificate_upload", id, Severity::High, None))
            .await?;
        Ok(ca)
    }

    pub async fn get_ca(&self, caller: &Caller, id: &str) -> Result<CertificateAuthority> {
        self.store
            .ca_get(caller.scope(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("CA '{id}'")))
    }

    pub async fn list_cas(
        &self,
        caller: &Caller,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<CertificateAuthority>, i64)> {
        Ok(self.store.ca_list(caller.scope(), offset, limit).await?)
    }

    pub async fn disable_ca(&self, caller: &Caller, id: &str) -> Result<CertificateAuthority> {
        let mut ca = self.get_ca(caller, id).await?;
        if ca.status == CaStatus::Disabled {
            return Ok(ca);
        }
        ca.status = CaStatus::Disabled;
        ca.updated_at = timestamp::now();
        self.store.ca_update(ca.clone()).await?;
        self.forget_ca(id);
        self.audit
            .record(caller.success("ca.disable", id, Severity::High, None))
            .await?;
        Ok(ca)
    }

    /// The DER certificate of any CA, for the public CA-issuers URL.
    pub async fn ca_certificate_der(&self, id: &str) -> Result<Vec<u8>> {
        let ca = self
            .store
            .ca_get_any(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("CA '{id}'")))?;
        let pem = ca
            .certificate_pem
            .ok_or_else(|| Error::NotFound(format!("certificate of CA '{id}'")))?;
        pem_certificate_der("certificate_pem", &pem).map_err(Error::internal)
    }

    fn ca_key(&self, ca: &CertificateAuthority) -> Result<KeyPair> {
        let der = self
            .master
            .open(&key_record(&ca.id), &ca.sealed_key)
            .map_err(Error::internal)?;
        load_key(&der)
    }

    pub(super) fn forget_ca(&self, id: &str) {
        if let Ok(mut cache) = self.ca_cache.write() {
            cache.remove(id);
        }
    }

    /// An active CA of the scope's organization (any organization's when `None`), ready
    /// to sign.
    pub(super) async fn loaded_ca_any(
        &self,
        scope: Option<Scope<'_>>,
        id: &str,
    ) -> Result<Arc<LoadedCa>> {
        let cached = self
            .ca_cache
            .read()
            .ok()
            .and_then(|cache| cache.get(id).cloned());
        if let Some(ca) = cached
            && scope.is_none_or(|s| s.organization_id() == ca.authority.organization_id)
        {
            return Ok(ca);
        }
        let found = match scope {
            Some(scope) => self.store.ca_get(scope, id).await?,
            None => self.store.ca_get_any(id).await?,
        };
        let authority = found.ok_or_else(|| Error::NotFound(format!("CA '{id}'")))?;
        if authority.status != CaStatus::Active {
            return Err(Error::Conflict(format!(
                "CA '{}' is {}",
                authority.name, authority.status
            )));
        }
        let pem = authority.certificate_pem.clone().unwrap_or_default();
        let issuer =
            Issuer::from_ca_cert_pem(&pem, self.ca_key(&authority)?).map_err(Error::internal)?;
        let mut chain_pem = vec![pem];
        let mut parent = authority.parent_id.clone();
        while let Some(parent_id) = parent {
            let parent_ca = self
                .store
                .ca_get(Scope::organization(&authority.organization_id), &parent_id)
                .await?
                .ok_or_else(|| Error::internal(anyhow::anyhow!("CA {parent_id} is missing")))?;
            chain_pem.extend(parent_ca.certificate_pem);
            parent = parent_ca.parent_id;
        }
        let loaded = Arc::new(LoadedCa {
            urls: self.ca_urls(&authority.id),
            authority,
            issuer,
            chain_pem,
        });
        if let Ok(mut cache) = self.ca_cache.write() {
            cache.insert(id.to_owned(), loaded.clone());
        }
        Ok(loaded)
    }

    pub(super) async fn loaded_ca(&self, scope: Scope<'_>, id: &str) -> Result<Arc<LoadedCa>> {
        self.loaded_ca_any(Some(scope), id).await
    }
}

/// The DER inside one `CERTIFICATE` PEM block.
pub fn pem_certificate_der(field: &str, pem: &str) -> Result<Vec<u8>> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.trim().as_bytes())
        .map_err(|_| Error::bad_request(field, "not a PEM block"))?;
    if block.label != "CERTIFICATE" {
        return Err(Error::bad_request(
            field,
            format!("expected a CERTIFICATE PEM block, got {}", block.label),
        ));
    }
    X509Certificate::from_der(&block.contents)
        .map_err(|_| Error::bad_request(field, "not a valid X.509 certificate"))?;
    Ok(block.contents)
}
