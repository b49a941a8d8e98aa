//! Certificate revocation lists: full CRLs, delta CRLs over the newest full one, and the
//! revocations they list.

use time::OffsetDateTime;

use super::RevocationReason;

super::wire_enum! {
    pub enum CrlKind {
        Full = "full",
        Delta = "delta",
    }
}

/// A signed CRL of one CA.
#[derive(Debug, Clone)]
pub struct Crl {
    pub ca_id: String,
    pub crl_number: i64,
    pub kind: CrlKind,
    /// For a delta CRL: the number of the full CRL it builds on.
    pub base_crl_number: Option<i64>,
    pub der: Vec<u8>,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

/// One revoked certificate as a CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSerial {
    pub serial_number: String,
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for kind in CrlKind::ALL {
            assert_eq!(CrlKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(CrlKind::parse("partial"), None);
    }
}
