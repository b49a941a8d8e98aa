//! The certificate state machine: the one place that decides which transition is legal.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    PendingApproval,
    Active,
    Rejected,
    Revoked,
    Archived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingApproval => "pending_approval",
            Self::Active => "active",
            Self::Rejected => "rejected",
            Self::Revoked => "revoked",
            Self::Archived => "archived",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending_approval" => Some(Self::PendingApproval),
            "active" => Some(Self::Active),
            "rejected" => Some(Self::Rejected),
            "revoked" => Some(Self::Revoked),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }
}

/// RFC 5280 CRLReason values a caller may give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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

    /// Accepts the RFC 5280 name or its numeric code.
    pub fn parse(text: &str) -> Option<Self> {
        let all = [
            Self::Unspecified,
            Self::KeyCompromise,
            Self::CaCompromise,
            Self::AffiliationChanged,
            Self::Superseded,
            Self::CessationOfOperation,
            Self::CertificateHold,
        ];
        all.into_iter()
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Approve,
    Reject,
    Revoke(RevocationReason),
    Unrevoke,
    Archive,
    Restore,
    PermanentDelete,
}

/// The status after `transition`, or why it is not allowed (a 409 for the caller).
/// `held` says whether a revoked certificate is on `certificateHold`;
/// `archived_from` is the status an archived certificate returns to.
pub fn next(
    current: Status,
    held: bool,
    archived_from: Option<Status>,
    transition: Transition,
) -> Result<Option<Status>, String> {
    use Status::*;
    use Transition::*;
    let refuse = |what: &str| {
        Err(format!(
            "cannot {what} a certificate that is {}",
            current.as_str()
        ))
    };
    match (transition, current) {
        (Approve, PendingApproval) => Ok(Some(Active)),
        (Approve, _) => refuse("approve"),
        (Reject, PendingApproval) => Ok(Some(Rejected)),
        (Reject, _) => refuse("reject"),
        (Revoke(_), Active) => Ok(Some(Revoked)),
        // A hold may become a final revocation (RFC 5280 5.3.1).
        (Revoke(reason), Revoked) if held && reason != RevocationReason::CertificateHold => {
            Ok(Some(Revoked))
        }
        (Revoke(_), Revoked) => Err("the certificate is already revoked".into()),
        (Revoke(_), _) => refuse("revoke"),
        (Unrevoke, Revoked) if held => Ok(Some(Active)),
        (Unrevoke, Revoked) => Err(
            "only a certificate on certificateHold can be unrevoked; this revocation is final"
                .into(),
        ),
        (Unrevoke, _) => refuse("unrevoke"),
        (Archive, PendingApproval) => {
            Err("reject the pending request instead of archiving it".into())
        }
        (Archive, Archived) => Err("the certificate is already archived".into()),
        (Archive, _) => Ok(Some(Archived)),
        (Restore, Archived) => Ok(Some(archived_from.unwrap_or(Active))),
        (Restore, _) => refuse("restore"),
        (PermanentDelete, Archived | Rejected) => Ok(None),
        (PermanentDelete, _) => Err(format!(
            "archive the certificate before deleting it permanently (it is {})",
            current.as_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RevocationReason::*;
    use Status::*;
    use Transition::*;

    #[test]
    fn legal_paths() {
        assert_eq!(
            next(PendingApproval, false, None, Approve),
            Ok(Some(Active))
        );
        assert_eq!(
            next(Active, false, None, Revoke(CertificateHold)),
            Ok(Some(Revoked))
        );
        assert_eq!(next(Revoked, true, None, Unrevoke), Ok(Some(Active)));
        assert_eq!(
            next(Revoked, true, None, Revoke(KeyCompromise)),
            Ok(Some(Revoked))
        );
        assert_eq!(next(Revoked, false, None, Archive), Ok(Some(Archived)));
        assert_eq!(
            next(Archived, false, Some(Revoked), Restore),
            Ok(Some(Revoked))
        );
        assert_eq!(next(Archived, false, None, PermanentDelete), Ok(None));
    }

    #[test]
    fn illegal_paths() {
        assert!(next(Revoked, false, None, Unrevoke).is_err());
        assert!(next(Active, false, None, Unrevoke).is_err());
        assert!(next(Active, false, None, Approve).is_err());
        assert!(next(Rejected, false, None, Revoke(Unspecified)).is_err());
        assert!(next(Revoked, false, None, Revoke(KeyCompromise)).is_err());
        assert!(next(Active, false, None, PermanentDelete).is_err());
        assert!(next(PendingApproval, false, None, Archive).is_err());
    }

    #[test]
    fn reasons() {
        assert_eq!(
            RevocationReason::parse("keyCompromise"),
            Some(KeyCompromise)
        );
        assert_eq!(RevocationReason::parse("6"), Some(CertificateHold));
        assert_eq!(RevocationReason::parse("removeFromCRL"), None);
        assert_eq!(CertificateHold.as_str(), "certificateHold");
    }
}
