//! The renewal queue: certificates inside their template's renew-before window that wait
//! for someone's decision, and what became of each.

use time::OffsetDateTime;

super::wire_enum! {
    pub enum RenewalStatus {
        /// Waits for approval.
        Pending = "pending",
        Renewed = "renewed",
        Cancelled = "cancelled",
        /// The renewal was tried and failed; `error` says why.
        Failed = "failed",
    }
}

#[derive(Debug, Clone)]
pub struct RenewalRequest {
    pub id: String,
    pub organization_id: String,
    pub certificate_id: String,
    pub status: RenewalStatus,
    /// Why it was queued, in words.
    pub reason: String,
    /// When the certificate to renew ends.
    pub not_after: OffsetDateTime,
    pub new_certificate_id: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<OffsetDateTime>,
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for status in RenewalStatus::ALL {
            assert_eq!(RenewalStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(RenewalStatus::parse("done"), None);
    }
}
