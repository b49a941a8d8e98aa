//! Certificates: requests, what they become, and where they came from.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{KeyStorageMode, KeyType, SanSet, Subject};
use crate::crypto::Sealed;

super::wire_enum! {
    /// The stored status; `pki::lifecycle` decides the transitions between them.
    pub enum Status {
        PendingApproval = "pending_approval",
        Active = "active",
        Rejected = "rejected",
        Revoked = "revoked",
        Archived = "archived",
    }
}

/// RFC 5280 CRLReason values a caller may give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
}

impl RevocationReason {
    pub const NAMES: &'static [&'static str] = &[
        "unspecified",
        "keyCompromise",
        "caCompromise",
        "affiliationChanged",
        "superseded",
        "cessationOfOperation",
        "certificateHold",
    ];

    const ALL: [Self; 7] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
    ];

    /// Accepts the RFC 5280 name or its numeric code.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == text || r.code().to_string() == text)
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self.code() as usize]
    }

    /// The CRLReason code (RFC 5280 section 5.3.1).
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
        }
    }
}

super::wire_enum! {
    /// How a certificate came to be. ACME, SCEP and EST join here as they arrive.
    pub enum CertificateSource {
        /// Signed here from a request (uploaded CSR, or a key made here), or a renewal of one.
        Issued = "issued",
        /// Made elsewhere and imported.
        Imported = "imported",
        /// Made by the mTLS certificate API.
        Mtls = "mtls",
    }
}

super::wire_enum! {
    /// Where the key and CSR of a request come from.
    pub enum CsrSourceMode {
        /// The client made the key and uploaded the CSR.
        UploadedCsr = "uploaded_csr",
        /// The key and CSR are made here.
        ServerGenerated = "server_generated",
        /// Made in Azure Key Vault: part of the reference API, not of this deployment.
        AzureKeyVaultGenerated = "azure_key_vault_generated",
    }
}

impl CsrSourceMode {
    /// As [`Self::parse`], with the reference API's alias `mazevault_generated`.
    pub fn parse_requested(text: &str) -> Option<Self> {
        match text {
            "mazevault_generated" => Some(Self::ServerGenerated),
            other => Self::parse(other),
        }
    }
}

/// What signing (or an import) adds: the certificate and the facts read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub serial_number: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint_sha256: String,
    pub issuer_cn: Option<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub revoked_at: OffsetDateTime,
    pub revoked_by: String,
    pub reason: RevocationReason,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub source: CertificateSource,
    /// The CA here that signs (signed) it; `None` for an imported certificate.
    pub ca_id: Option<String>,
    pub template_id: Option<String>,
    pub status: Status,
    /// The status an archived certificate returns to when restored.
    pub archived_status: Option<Status>,
    pub common_name: String,
    pub subject: Subject,
    pub san: SanSet,
    pub key_type: KeyType,
    pub key_storage: KeyStorageMode,
    pub validity_days: u32,
    /// The request signed, PEM; `None` for an imported certificate.
    pub csr_pem: Option<String>,
    /// Set once signed (or imported).
    pub issued: Option<Issued>,
    /// The private key (PKCS #8) when it is kept here, sealed under the master key.
    pub sealed_key: Option<Sealed>,
    pub requested_by: String,
    pub requested_at: OffsetDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<OffsetDateTime>,
    pub rejection_reason: Option<String>,
    pub revocation: Option<Revocation>,
    /// Tags, description and metadata its owners keep with it.
    pub properties: Map<String, Value>,
    /// The certificate this one renewed.
    pub renewed_from: Option<String>,
    /// The chain an imported certificate arrived with (PEM); others use their CA's.
    pub chain_pem: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What every new certificate record is made from; the rest starts empty.
#[derive(Debug)]
pub struct NewCertificate {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub source: CertificateSource,
    pub ca_id: Option<String>,
    pub template_id: Option<String>,
    pub common_name: String,
    pub subject: Subject,
    pub san: SanSet,
    pub key_type: KeyType,
    pub key_storage: KeyStorageMode,
    pub validity_days: u32,
    pub csr_pem: Option<String>,
    pub sealed_key: Option<Sealed>,
    pub requested_by: String,
    pub requested_at: OffsetDateTime,
}

impl Certificate {
    /// A new request, `pending_approval`: nothing decided, signed or revoked yet.
    pub fn requested(new: NewCertificate) -> Self {
        Self {
            id: new.id,
            organization_id: new.organization_id,
            project_id: new.project_id,
            source: new.source,
            ca_id: new.ca_id,
            template_id: new.template_id,
            status: Status::PendingApproval,
            archived_status: None,
            common_name: new.common_name,
            subject: new.subject,
            san: new.san,
            key_type: new.key_type,
            key_storage: new.key_storage,
            validity_days: new.validity_days,
            csr_pem: new.csr_pem,
            issued: None,
            sealed_key: new.sealed_key,
            requested_by: new.requested_by,
            requested_at: new.requested_at,
            decided_by: None,
            decided_at: None,
            rejection_reason: None,
            revocation: None,
            properties: Map::new(),
            renewed_from: None,
            chain_pem: None,
            created_at: new.requested_at,
            updated_at: new.requested_at,
        }
    }

    /// A request granted as it is made (an import, an mTLS certificate, a renewal): active,
    /// decided by its requester at the time of the request.
    pub fn granted(new: NewCertificate) -> Self {
        let mut certificate = Self::requested(new);
        certificate.status = Status::Active;
        certificate.decided_by = Some(certificate.requested_by.clone());
        certificate.decided_at = Some(certificate.requested_at);
        certificate
    }

    pub fn serial_number(&self) -> Option<&str> {
        self.issued.as_ref().map(|i| i.serial_number.as_str())
    }

    pub fn der(&self) -> Option<&[u8]> {
        self.issued.as_ref().map(|i| i.der.as_slice())
    }

    pub fn fingerprint_sha256(&self) -> Option<&str> {
        self.issued.as_ref().map(|i| i.fingerprint_sha256.as_str())
    }

    pub fn issuer_cn(&self) -> Option<&str> {
        self.issued.as_ref().and_then(|i| i.issuer_cn.as_deref())
    }

    pub fn not_before(&self) -> Option<OffsetDateTime> {
        self.issued.as_ref().map(|i| i.not_before)
    }

    pub fn not_after(&self) -> Option<OffsetDateTime> {
        self.issued.as_ref().map(|i| i.not_after)
    }

    pub fn revocation_reason(&self) -> Option<RevocationReason> {
        self.revocation.as_ref().map(|r| r.reason)
    }

    /// Whether it is revoked on `certificateHold`, the one revocation that can be undone.
    pub fn is_on_hold(&self) -> bool {
        self.revocation_reason() == Some(RevocationReason::CertificateHold)
    }

    /// Whether its validity ended before `now`.
    pub fn has_ended(&self, now: OffsetDateTime) -> bool {
        self.not_after().is_some_and(|end| end < now)
    }

    /// The status users see: an active certificate past its end is `expired`, a status
    /// that is not stored.
    pub fn visible_status(&self, now: OffsetDateTime) -> &'static str {
        if self.status == Status::Active && self.has_ended(now) {
            "expired"
        } else {
            self.status.as_str()
        }
    }
}

/// What a certificate list is narrowed to, within a tenant scope. Empty narrows nothing.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    pub project_id: Option<String>,
    pub status: Option<Status>,
    /// Only those whose `not_after` is before this time.
    pub ended_before: Option<OffsetDateTime>,
    /// Only those still valid at this time (or not signed yet).
    pub running_at: Option<OffsetDateTime>,
    /// Only those whose `not_after` is at or before this time.
    pub ending_by: Option<OffsetDateTime>,
    pub ca_id: Option<String>,
    /// A substring of the common name, any case.
    pub common_name: Option<String>,
    pub source: Option<CertificateSource>,
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::model::KeyAlgorithm;

    #[test]
    fn wire_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(*status));
        }
        for source in CertificateSource::ALL {
            assert_eq!(CertificateSource::parse(source.as_str()), Some(*source));
        }
        for mode in CsrSourceMode::ALL {
            assert_eq!(CsrSourceMode::parse_requested(mode.as_str()), Some(*mode));
        }
        assert_eq!(
            CsrSourceMode::parse_requested("mazevault_generated"),
            Some(CsrSourceMode::ServerGenerated)
        );
        assert_eq!(Status::parse("expired"), None);
        assert_eq!(Status::PendingApproval.as_str(), "pending_approval");
    }

    #[test]
    fn revocation_reasons_by_name_or_code() {
        assert_eq!(
            RevocationReason::parse("keyCompromise"),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            RevocationReason::parse("6"),
            Some(RevocationReason::CertificateHold)
        );
        assert_eq!(RevocationReason::parse("removeFromCRL"), None);
        for (code, name) in RevocationReason::NAMES.iter().enumerate() {
            let reason = RevocationReason::parse(name).unwrap();
            assert_eq!(usize::from(reason.code()), code);
            assert_eq!(reason.as_str(), *name);
        }
    }

    fn sample(now: OffsetDateTime) -> Certificate {
        Certificate::requested(NewCertificate {
            id: "c1".into(),
            organization_id: "o1".into(),
            project_id: "p1".into(),
            source: CertificateSource::Issued,
            ca_id: Some("ca1".into()),
            template_id: Some("t1".into()),
            common_name: "api.example.com".into(),
            subject: Subject::default(),
            san: SanSet::default(),
            key_type: KeyType::Known(KeyAlgorithm::EcdsaP256),
            key_storage: KeyStorageMode::None,
            validity_days: 30,
            csr_pem: None,
            sealed_key: None,
            requested_by: "api_key:k".into(),
            requested_at: now,
        })
    }

    #[test]
    fn a_request_starts_pending_and_expires_only_when_active() {
        let now = OffsetDateTime::now_utc();
        let mut certificate = sample(now);
        assert_eq!(certificate.status, Status::PendingApproval);
        assert_eq!(certificate.created_at, now);
        assert_eq!(certificate.visible_status(now), "pending_approval");
        certificate.issued = Some(Issued {
            serial_number: "01".into(),
            der: vec![0x30],
            fingerprint_sha256: "ab".into(),
            issuer_cn: None,
            not_before: now - Duration::days(2),
            not_after: now - Duration::days(1),
        });
        certificate.status = Status::Active;
        assert!(certificate.has_ended(now));
        assert_eq!(certificate.visible_status(now), "expired");
        certificate.status = Status::Revoked;
        assert_eq!(certificate.visible_status(now), "revoked");
        certificate.revocation = Some(Revocation {
            revoked_at: now,
            revoked_by: "api_key:k".into(),
            reason: RevocationReason::CertificateHold,
            comment: None,
        });
        assert!(certificate.is_on_hold());
    }
}
