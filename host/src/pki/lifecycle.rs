//! The certificate state machine: the one place that decides which transition is legal.

use crate::model::{RevocationReason, Status};

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
}
