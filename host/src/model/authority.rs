//! Certificate authorities: roots, intermediates signed here, and intermediates whose
//! certificate comes from an outside parent.

use time::OffsetDateTime;

use super::{KeyAlgorithm, Subject};
use crate::crypto::Sealed;

super::wire_enum! {
    pub enum CaKind {
        Root = "root",
        Intermediate = "intermediate",
    }
}

super::wire_enum! {
    pub enum CaStatus {
        /// Signs certificates and CRLs.
        Active = "active",
        /// An intermediate waiting for the certificate its outside parent signs.
        PendingCertificate = "pending_certificate",
        /// Signs nothing new; its CRL and OCSP keep answering for what it issued.
        Disabled = "disabled",
    }
}

#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub kind: CaKind,
    /// The CA here that signed this intermediate; `None` for a root or an outside parent.
    pub parent_id: Option<String>,
    pub status: CaStatus,
    pub key_algorithm: KeyAlgorithm,
    pub subject: Subject,
    pub certificate_pem: Option<String>,
    /// The request to take to an outside parent, while `pending_certificate`.
    pub csr_pem: Option<String>,
    /// The signing key (PKCS #8), sealed under the master key.
    pub sealed_key: Sealed,
    pub serial_number: Option<String>,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for kind in CaKind::ALL {
            assert_eq!(CaKind::parse(kind.as_str()), Some(*kind));
        }
        for status in CaStatus::ALL {
            assert_eq!(CaStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(CaStatus::PendingCertificate.as_str(), "pending_certificate");
        assert_eq!(CaKind::parse("leaf"), None);
    }
}
